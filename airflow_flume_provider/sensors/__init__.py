"""Sensors of the Flume provider."""
