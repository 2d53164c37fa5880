"""Training core: meshes, data-parallel steps, checkpoints, metric writers, loops."""
