"""Hostile inputs: generated damage per area, each with its documented outcome (exit code and message, or a hold)."""
