"""Geometry: the differentiable rasterizer, texture sampling, UV maps, rotations, projections,
similarity / affine fits, normals and shading (pure JAX; no side effects on import).

Public API (the DESIGN.md "Rasterizer" contract and helpers):
  rasterize, Fragments, interpolate, sample_texture, supersample_vertices, box_downsample.
"""

from jaxau.geometry.interpolate import interpolate
from jaxau.geometry.rasterize import SUBPIXEL_BITS, Fragments, rasterize, snap
from jaxau.geometry.texture import box_downsample, sample_texture, supersample_vertices

__all__ = [
    "Fragments", "SUBPIXEL_BITS", "box_downsample", "interpolate", "rasterize", "sample_texture",
    "snap", "supersample_vertices",
]
