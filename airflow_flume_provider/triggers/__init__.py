"""Triggers of the Flume provider."""
