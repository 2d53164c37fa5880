"""Face registration and alignment (issue #6).

Modules: ``canonical`` (the registration mesh, UV rasters, weight mask), ``crop`` (similarity crops,
affine warp), ``register`` (inference: image + box -> mesh, landmarks, head pose), ``frontalize``
(3-D alignment), ``procrustes2d`` (2-D alignment), ``detect`` (Haar cascade / CSV face boxes),
``preview`` (contact sheets). Importing this package imports none of them.
"""
