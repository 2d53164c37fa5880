"""Geometry: the differentiable rasterizer, texture sampling, UV maps, rotations, projections,
similarity / affine fits, normals and shading (pure JAX; importing has no side effects).

Modules: ``rasterize`` (Fragments, rasterize), ``interpolate``, ``soft`` (soft_silhouette:
SoftRas-style coverage with gradients at silhouette edges), ``antialias`` (render_attributes:
supersampled rendering), ``texture`` (sample_texture, supersampling helpers), ``uv`` (UV position maps), ``transforms`` (Euler angles, cameras), ``procrustes``
(Umeyama, affine, 2-D Procrustes), ``shading`` (normals, Lambertian). Conventions are documented in
each module's docstring; the rasterizer's image space is x right, y down, pixel centres at +0.5,
larger z nearer.
"""

from jaxau.geometry.antialias import render_attributes
from jaxau.geometry.interpolate import interpolate
from jaxau.geometry.procrustes import (apply_similarity, fit_affine, procrustes_2d,
                                       similarity_matrix_2d, umeyama)
from jaxau.geometry.rasterize import SUBPIXEL_BITS, Fragments, rasterize, snap
from jaxau.geometry.shading import face_normals, lambertian, vertex_normals
from jaxau.geometry.soft import SOFT_EPS, soft_radius, soft_silhouette
from jaxau.geometry.texture import box_downsample, sample_texture, supersample_vertices
from jaxau.geometry.transforms import (euler_to_rotation, orthographic, prnet_pose_angles,
                                       rotation_to_euler, weak_perspective, y_up_to_image)
from jaxau.geometry.uv import (grid_uv, render_uv_position_map, sample_position_map,
                               uv_fragments)

__all__ = [
    "Fragments", "SUBPIXEL_BITS", "apply_similarity", "box_downsample", "euler_to_rotation",
    "face_normals", "fit_affine", "grid_uv", "interpolate", "lambertian", "orthographic",
    "procrustes_2d", "prnet_pose_angles", "rasterize", "render_uv_position_map",
    "render_attributes", "rotation_to_euler", "sample_position_map", "sample_texture",
    "similarity_matrix_2d", "snap", "SOFT_EPS", "soft_radius", "soft_silhouette",
    "supersample_vertices", "umeyama", "uv_fragments", "vertex_normals", "weak_perspective",
    "y_up_to_image",
]
