"""Hooks of the Flume provider."""
