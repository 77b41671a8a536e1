"""Turning figures into ratios, target verdicts, a printed table and a JSON file."""
