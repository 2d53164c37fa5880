"""Generator configs."""
