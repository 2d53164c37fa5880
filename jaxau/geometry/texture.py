"""Texture sampling and anti-aliasing helpers.

UV convention (shared with :mod:`jaxau.geometry.uv`): ``uv[..., 0] = u`` runs along texture columns
(x, to the right) and ``uv[..., 1] = v`` along rows (y, *down*, like the image), both normalised to
[0, 1] over the texture's extent: texel (row r, col c) has its centre at
``((c + 0.5) / Wt, (r + 0.5) / Ht)``. With ``texel_units=True`` uv are instead texel coordinates
``(x, y)`` with the centre of texel (r, c) at ``(c + 0.5, r + 0.5)`` -- the rasterizer's pixel
convention. Sampling is bilinear with clamp-to-edge addressing (``cv2.BORDER_REPLICATE``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def sample_texture(texture: jax.Array, uv: jax.Array, *, texel_units: bool = False) -> jax.Array:
    """Bilinearly samples ``texture`` at ``uv`` with clamp-to-edge addressing.

    Differentiable with respect to both the texture and ``uv`` (piecewise bilinear).

    Args:
      texture: ``[Ht, Wt, C]`` (or ``[..., Ht, Wt, C]`` with matching leading dims on ``uv``).
      uv: ``[..., H, W, 2]`` coordinates (see module docstring); any number of leading dims when
        ``texture`` is unbatched.
      texel_units: uv are texel coordinates instead of [0, 1].

    Returns:
      ``[..., H, W, C]`` in the texture's dtype (float) -- integer textures are sampled as float32.
    """
    texture = jnp.asarray(texture)
    uv = jnp.asarray(uv)
    if texture.ndim < 3:
        raise ValueError(f"sample_texture: texture must be [Ht, Wt, C], got {texture.shape}; add a "
                         "channel axis for single-channel textures.")
    if uv.shape[-1] != 2:
        raise ValueError(f"sample_texture: uv must end in 2 (u, v), got {uv.shape}.")
    if texture.ndim > 3:
        lead = texture.shape[:-3]
        if uv.shape[:len(lead)] != lead:
            raise ValueError(f"sample_texture: batched texture {texture.shape} needs uv with the "
                             f"same leading dims {lead}, got {uv.shape}.")
        flat_t = texture.reshape((-1,) + texture.shape[-3:])
        flat_uv = uv.reshape((-1,) + uv.shape[len(lead):])
        out = jax.vmap(lambda t, c: sample_texture(t, c, texel_units=texel_units))(flat_t, flat_uv)
        return out.reshape(lead + out.shape[1:])
    if not jnp.issubdtype(texture.dtype, jnp.floating):
        texture = texture.astype(jnp.float32)
    ht, wt = texture.shape[0], texture.shape[1]
    uv = uv.astype(texture.dtype)
    if texel_units:
        x, y = uv[..., 0] - 0.5, uv[..., 1] - 0.5
    else:
        x, y = uv[..., 0] * wt - 0.5, uv[..., 1] * ht - 0.5
    # Clamp first: outside the texture bilinear with replicated borders equals the edge texel, and
    # clamping keeps the integer index computation in range for any finite input.
    x = jnp.clip(x, 0.0, wt - 1.0)
    y = jnp.clip(y, 0.0, ht - 1.0)
    x0 = jnp.floor(x)
    y0 = jnp.floor(y)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    x0i = x0.astype(jnp.int32)
    y0i = y0.astype(jnp.int32)
    x1i = jnp.minimum(x0i + 1, wt - 1)
    y1i = jnp.minimum(y0i + 1, ht - 1)
    flat = texture.reshape(ht * wt, -1)
    tex = lambda yi, xi: flat[yi * wt + xi]  # noqa: E731
    top = tex(y0i, x0i) * (1 - fx) + tex(y0i, x1i) * fx
    bottom = tex(y1i, x0i) * (1 - fx) + tex(y1i, x1i) * fx
    return top * (1 - fy) + bottom * fy


def supersample_vertices(vertices: jax.Array, factor: int) -> jax.Array:
    """Scales image-space x, y by ``factor`` for rendering at ``factor`` x the resolution.

    Pixel (i, j) of the small image covers pixels ``[i*f, (i+1)*f) x [j*f, (j+1)*f)`` of the large one
    under the +0.5 pixel-centre convention, so :func:`box_downsample` of the large render is a
    ``factor**2``-sample anti-aliased version of the small one.
    """
    vertices = jnp.asarray(vertices)
    scale = jnp.asarray([factor, factor, 1.0], vertices.dtype)
    return vertices * scale


def box_downsample(image: jax.Array, factor: int) -> jax.Array:
    """Averages non-overlapping ``factor x factor`` blocks: ``[..., H*f, W*f, C] -> [..., H, W, C]``."""
    image = jnp.asarray(image)
    h, w, c = image.shape[-3:]
    if h % factor or w % factor:
        raise ValueError(f"box_downsample: image size {h}x{w} is not a multiple of factor {factor}.")
    blocks = image.reshape(image.shape[:-3] + (h // factor, factor, w // factor, factor, c))
    return jnp.mean(blocks, axis=(-4, -2))
