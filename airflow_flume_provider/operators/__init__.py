"""Operators of the Flume provider."""
