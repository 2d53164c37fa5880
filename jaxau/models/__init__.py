"""Flax Linen modules only (no training logic)."""
