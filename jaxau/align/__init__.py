"""Face registration and alignment.

Modules: ``canonical`` (the registration mesh, UV rasters, weight mask), ``crop`` (similarity crops,
affine warp), ``registrar`` (a trained network applied: image + box -> mesh, landmarks, head pose),
``frontalize`` (3-D alignment), ``procrustes2d`` (2-D alignment), ``aligner`` (boxes -> registration
-> 2-D / 3-D alignment of frame batches), ``pose_augment`` (3-D pose augmentation of a synthetic
set), ``detect`` (Haar cascade / CSV face boxes), ``preview`` (contact sheets). Importing this
package imports none of them.
"""
