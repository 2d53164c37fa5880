"""Estimator configs."""
