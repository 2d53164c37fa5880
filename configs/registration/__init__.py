"""Registration configs."""
