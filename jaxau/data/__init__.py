"""Data: AU conventions, TFDS builders, tf.data pipelines, resampling."""
