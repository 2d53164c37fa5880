"""Paper configs."""
