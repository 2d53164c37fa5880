// The rasterizer's visibility pass for CPUs as an XLA FFI kernel (jaxau.geometry.native).
//
// Computes what jaxau/geometry/rasterize.py computes (same contract, same float32 expressions in
// the same order): vertices snapped to 1/256 px, one canonical evaluation order per edge, the
// top-left fill rule, the nearest depth (larger z) winning and exact depth ties going to the lower
// triangle index. Outputs are identical to the bit where the arithmetic is exact (triangles of a
// few pixels) and within float32 rounding elsewhere (tests/geometry/test_native.py).
// Where the XLA version needs a z-buffer scatter, an id scatter and a gather pass to stay
// data-parallel, a serial loop over triangles in index order does it in one pass: a candidate
// replaces the pixel's winner only if it is strictly nearer, so the first (lowest) index keeps a tie.
//
// Build (jaxau.geometry.native does this on first use, into a cache keyed by this file):
//   g++ -O3 -std=c++17 -shared -fPIC -ffp-contract=off -I<jax.ffi.include_dir()> ...
// -ffp-contract=off matters: the compiler must not fuse multiply-adds on its own; the one place
// XLA fuses them (the depth plane) is written out with std::fma below.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr float kSnap = 256.0f;  // 2 ** SUBPIXEL_BITS

// jnp.round (half to even) of v * 256, then / 256. For |t| < 2^23, t + 2^23 lands where float32's
// spacing is exactly 1, so the addition rounds t to the nearest integer, ties to even (2^23 is even),
// and the subtraction is exact; larger |t| are integers already. (std::nearbyint is a library call
// on baseline x86-64 and cost more than the rest of the triangle setup.)
inline float Snap(float v) {
  const float t = v * kSnap;
  const float a = std::fabs(t);
  if (!(a < 8388608.0f)) return t / kSnap;
  return std::copysign((a + 8388608.0f) - 8388608.0f, t) / kSnap;
}

// One triangle's edge functions, top-left flags and depth plane (see rasterize.py's _Setup).
struct Setup {
  float ax[3], ay[3], dx[3], dy[3];
  bool topleft[3];
  float inv_area, z0, gz1, gz2;
  int32_t i0, i1, j0, j1;
};

// A vertex snapped once per image (each is shared by ~6 triangles): x, y on the 1/256 px grid, z as
// given; `ok` is false for a non-finite vertex, which invalidates every triangle using it. One
// 16-byte record per vertex: a triangle's setup touches three cache lines, not twelve.
struct SnappedVertex {
  float x, y, z;
  int32_t ok;
};

void SnapVertices(const float* v, int64_t num_v, std::vector<SnappedVertex>* out) {
  out->resize(num_v);
  for (int64_t i = 0; i < num_v; ++i) {
    const float* p = v + 3 * i;
    const bool ok = std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]);
    (*out)[i] = ok ? SnappedVertex{Snap(p[0]), Snap(p[1]), p[2], 1} : SnappedVertex{0.0f, 0.0f, 0.0f, 0};
  }
}

// Fills `s` and returns true when the triangle with vertex indices corner[0..2] can cover a pixel centre of the image.
inline bool TriangleSetup(const SnappedVertex* sv, int64_t num_v, const int32_t* corner,
                          int64_t height, int64_t width, bool cull_backfaces, Setup* s) {
  float x[3], y[3], z[3];
  for (int k = 0; k < 3; ++k) {
    if (corner[k] < 0 || corner[k] >= num_v) return false;
    const SnappedVertex& p = sv[corner[k]];
    if (!p.ok) return false;
    x[k] = p.x;
    y[k] = p.y;
    z[k] = p.z;
  }
  // Pixel box first: pixel centres idx + 0.5 inside the bounding box, clipped to the image (clipped
  // as floats first, as rasterize.py does, so huge coordinates cannot overflow the int conversion).
  // Most triangles of a dense mesh hold no pixel centre and stop here.
  const float min_x = std::min(std::min(x[0], x[1]), x[2]);
  const float max_x = std::max(std::max(x[0], x[1]), x[2]);
  const float min_y = std::min(std::min(y[0], y[1]), y[2]);
  const float max_y = std::max(std::max(y[0], y[1]), y[2]);
  const float w = static_cast<float>(width), h = static_cast<float>(height);
  s->j0 = static_cast<int32_t>(std::clamp(std::ceil(min_x - 0.5f), 0.0f, w));
  s->j1 = static_cast<int32_t>(std::clamp(std::floor(max_x - 0.5f), -1.0f, w - 1.0f));
  if (s->j0 > s->j1) return false;
  s->i0 = static_cast<int32_t>(std::clamp(std::ceil(min_y - 0.5f), 0.0f, h));
  s->i1 = static_cast<int32_t>(std::clamp(std::floor(max_y - 0.5f), -1.0f, h - 1.0f));
  if (s->i0 > s->i1) return false;
  const float area = (x[1] - x[0]) * (y[2] - y[0]) - (y[1] - y[0]) * (x[2] - x[0]);
  if (area == 0.0f || !std::isfinite(area)) return false;
  if (cull_backfaces && !(area < 0.0f)) return false;
  const float orient = area > 0.0f ? 1.0f : -1.0f;
  for (int k = 0; k < 3; ++k) {
    const float xa = x[(k + 1) % 3], ya = y[(k + 1) % 3];
    const float xb = x[(k + 2) % 3], yb = y[(k + 2) % 3];
    // Canonical order (smaller (y, x) first): the two triangles of a shared edge compute the same
    // expression on the same numbers, so their values are exact negatives.
    const bool swap = (yb < ya) || (yb == ya && xb < xa);
    s->ax[k] = swap ? xb : xa;
    s->ay[k] = swap ? yb : ya;
    const float sign = swap ? -orient : orient;
    s->dx[k] = ((swap ? xa : xb) - s->ax[k]) * sign;
    s->dy[k] = ((swap ? ya : yb) - s->ay[k]) * sign;
    const float ex = (xb - xa) * orient, ey = (yb - ya) * orient;
    s->topleft[k] = (ey < 0.0f) || (ey == 0.0f && ex > 0.0f);
  }
  s->inv_area = 1.0f / std::fabs(area);
  s->z0 = z[0];
  s->gz1 = (z[1] - z[0]) * s->inv_area;
  s->gz2 = (z[2] - z[0]) * s->inv_area;
  return true;
}

template <bool kFused>
inline __attribute__((always_inline)) void RasterizeImageImpl(
    const float* v, int64_t num_v, const int32_t* tri, int64_t num_t, int64_t height, int64_t width,
    bool cull_backfaces, int32_t* ids, float* bary, float* depth) {
  const int64_t npix = height * width;
  std::fill(ids, ids + npix, -1);
  std::fill(bary, bary + 3 * npix, 0.0f);
  // The z-buffer lives in the depth output: -inf until a triangle covers the pixel.
  std::fill(depth, depth + npix, -std::numeric_limits<float>::infinity());
  std::vector<SnappedVertex> sv;
  SnapVertices(v, num_v, &sv);
  Setup s;
  for (int64_t t = 0; t < num_t; ++t) {
    if (!TriangleSetup(sv.data(), num_v, tri + 3 * t, height, width, cull_backfaces, &s)) {
      continue;
    }
    for (int32_t i = s.i0; i <= s.i1; ++i) {
      const float py = static_cast<float>(i) + 0.5f;
      for (int32_t j = s.j0; j <= s.j1; ++j) {
        const float px = static_cast<float>(j) + 0.5f;
        float c[3];
        bool inside = true;
        for (int k = 0; k < 3; ++k) {
          c[k] = s.dx[k] * (py - s.ay[k]) - s.dy[k] * (px - s.ax[k]);
          inside &= (c[k] > 0.0f) || (c[k] == 0.0f && s.topleft[k]);
        }
        if (!inside) continue;
        const float d = kFused ? std::fma(c[2], s.gz2, std::fma(c[1], s.gz1, s.z0))
                              : (s.z0 + c[1] * s.gz1) + c[2] * s.gz2;
        const int64_t p = i * width + j;
        // Strictly nearer only: triangles arrive in index order, so the lowest index keeps a tie.
        if (!(d > depth[p])) continue;
        depth[p] = d;
        ids[p] = static_cast<int32_t>(t);
        bary[3 * p] = c[0] * s.inv_area;
        bary[3 * p + 1] = c[1] * s.inv_area;
        bary[3 * p + 2] = c[2] * s.inv_area;
      }
    }
  }
  for (int64_t p = 0; p < npix; ++p) {
    if (ids[p] < 0) depth[p] = 0.0f;
  }
}

// XLA:CPU compiles for the host and contracts the depth plane's multiply-adds into fused ones where
// the CPU has FMA (measured on x86-64: its depths are the fused roundings), so the kernel does the
// same; the fused variant is compiled for FMA hardware and chosen at run time. (aarch64 has FMA in
// its baseline.)
#if defined(__x86_64__) || defined(__i386__)
#define JAXAU_FUSED_TARGET __attribute__((target("avx2,fma")))
bool HostFusesMultiplyAdd() {
  return __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
}
#else
#define JAXAU_FUSED_TARGET
bool HostFusesMultiplyAdd() { return true; }
#endif

JAXAU_FUSED_TARGET void RasterizeImageFused(const float* v, int64_t num_v,
                                                        const int32_t* tri, int64_t num_t,
                                                        int64_t height, int64_t width,
                                                        bool cull_backfaces, int32_t* ids,
                                                        float* bary, float* depth) {
  RasterizeImageImpl<true>(v, num_v, tri, num_t, height, width, cull_backfaces, ids, bary, depth);
}

void RasterizeImagePlain(const float* v, int64_t num_v, const int32_t* tri, int64_t num_t,
                         int64_t height, int64_t width, bool cull_backfaces, int32_t* ids,
                         float* bary, float* depth) {
  RasterizeImageImpl<false>(v, num_v, tri, num_t, height, width, cull_backfaces, ids, bary, depth);
}

ffi::Error Rasterize(ffi::Buffer<ffi::F32> vertices, ffi::Buffer<ffi::S32> triangles, int64_t height,
                     int64_t width, int64_t cull_backfaces,
                     ffi::ResultBuffer<ffi::S32> triangle_id,
                     ffi::ResultBuffer<ffi::F32> barycentric, ffi::ResultBuffer<ffi::F32> depth) {
  const auto vdims = vertices.dimensions();
  const auto tdims = triangles.dimensions();
  if (vdims.size() != 3 || vdims[2] != 3 || tdims.size() != 2 || tdims[1] != 3) {
    return ffi::Error::InvalidArgument(
        "jaxau_rasterize: expects vertices [N, V, 3] and triangles [T, 3]");
  }
  const int64_t num_images = vdims[0], num_v = vdims[1], num_t = tdims[0];
  const int64_t npix = height * width;
  if (triangle_id->element_count() != num_images * npix ||
      barycentric->element_count() != 3 * num_images * npix ||
      depth->element_count() != num_images * npix) {
    return ffi::Error::InvalidArgument("jaxau_rasterize: output shapes do not match [N, H, W]");
  }
  const float* v = vertices.typed_data();
  const int32_t* tri = triangles.typed_data();
  static const bool fused = HostFusesMultiplyAdd();
  for (int64_t n = 0; n < num_images; ++n) {
    (fused ? RasterizeImageFused : RasterizeImagePlain)(v + n * num_v * 3, num_v, tri, num_t, height, width, cull_backfaces != 0,
                   triangle_id->typed_data() + n * npix, barycentric->typed_data() + 3 * n * npix,
                   depth->typed_data() + n * npix);
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxauRasterize, Rasterize,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("height")
                                  .Attr<int64_t>("width")
                                  .Attr<int64_t>("cull_backfaces")
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
