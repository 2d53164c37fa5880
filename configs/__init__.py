"""Experiment configs (ml_collections): pass a file as ``--config=configs/<name>.py`` to a launcher."""
