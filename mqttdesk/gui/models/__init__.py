"""Qt item models over the store and the live session registry, updated from change signals (never on a timer)."""
