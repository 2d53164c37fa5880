"""3-D alignment: frontalizing a frontal mesh reproduces its render; a turned mesh comes back frontal
with the surface it hid painted black."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.align import canonical, frontalize, registrar as register

SIZE = 96
# Jitted once per shape (eager rasterization is slower than compiling it).
render = jax.jit(frontalize.render_vertex_colors, static_argnums=3)


def run_frontalize(frame, v, scale, r, t, occluded_black=True, sampling="pixel"):
    out, mask = frontalize.frontalize_batch(
        jnp.asarray(frame)[None], jnp.asarray(v)[None], jnp.asarray([scale], jnp.float32), jnp.asarray(r)[None],
        jnp.asarray(t)[None], jnp.eye(3), size=SIZE, occluded_black=occluded_black, sampling=sampling)
    return np.asarray(out[0]), np.asarray(mask[0])


def colours():
    """A smooth colour per vertex (function of the canonical position) in 0..255."""
    c = canonical.registration_mesh().canonical
    return (127.5 + 110 * np.stack([np.sin(3 * c[:, 0]), np.cos(2.5 * c[:, 1]), np.sin(2 * c[:, 0] + 2 * c[:, 1])],
                                    -1)).astype(np.float32)


def pose_mesh(yaw_deg, scale, t):
    m = canonical.registration_mesh()
    r = np.asarray(register.pose_rotation(np.deg2rad(yaw_deg), 0.0, 0.0))
    return (scale * m.canonical @ r.T + t).astype(np.float32), r


@pytest.fixture(scope="module")
def frontal_render():
    scale, out_t = frontalize.output_placement(SIZE)
    v, r = pose_mesh(0.0, scale, np.array([out_t[0], out_t[1], 0.0], np.float32))
    tris = jnp.asarray(canonical.registration_mesh().triangles)
    img, mask = render(jnp.asarray(v), jnp.asarray(colours()), tris, SIZE)
    return np.asarray(img), np.asarray(mask), v, r, scale, out_t


def test_frontal_mesh_reproduces_its_render(frontal_render):
    img, mask, v, r, scale, out_t = frontal_render
    t = np.array([out_t[0], out_t[1], 0.0], np.float32)
    out, out_mask = run_frontalize(img, v, scale, r, t)
    np.testing.assert_array_equal(out_mask, mask)
    # Interior pixels (away from the silhouette, where colours were sampled half off the face).
    from scipy.ndimage import binary_erosion

    inner = binary_erosion(mask, iterations=2)
    err = np.abs(out - img)[inner]
    assert np.mean(err) < 2.0 and np.percentile(err, 99) < 12.0, (np.mean(err), np.percentile(err, 99))


def test_turned_mesh_is_frontalized_and_occlusion_is_black(frontal_render):
    img_front, mask_front, _, _, scale, out_t = frontal_render
    # The same face turned 45 degrees (towards image right), rendered smaller (the frame must hold
    # it) and elsewhere.
    v, r = pose_mesh(45.0, 0.75 * scale, np.array([50.0, 46.0, 0.0], np.float32))
    tris = jnp.asarray(canonical.registration_mesh().triangles)
    frame, _ = render(jnp.asarray(v), jnp.asarray(colours()), tris, SIZE)
    t = np.array([50.0, 46.0, 0.0], np.float32)
    out, mask = run_frontalize(frame, v, 0.75 * scale, r, t)
    np.testing.assert_array_equal(mask, mask_front)  # same frontal silhouette
    black = mask & (out.sum(-1) < 1.0)
    half = SIZE // 2
    # Turned towards image right (the subject's left), the face hides its left cheek, which the
    # frontal output shows on the image right: black there, not on the left.
    assert black[:, half:].sum() > 20 * max(black[:, :half].sum(), 1)
    visible = mask & ~black
    assert np.median(np.abs(out - img_front)[visible]) < 6.0
    # Without occlusion handling nothing is black on the face.
    out2, _ = run_frontalize(frame, v, 0.75 * scale, r, t, occluded_black=False)
    assert (mask & (out2.sum(-1) < 1.0)).sum() < black.sum() / 10


def test_pixel_sampling_keeps_the_frames_detail_and_vertex_sampling_blurs_it(frontal_render):
    _, mask, v, r, scale, out_t = frontal_render
    t = np.array([out_t[0], out_t[1], 0.0], np.float32)
    # Pixel-scale detail (what wrinkles and a lip corner are at 64 px): a frontal frame of noise,
    # registered exactly, is its own frontalisation.
    frame = np.random.default_rng(0).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)
    from scipy.ndimage import binary_erosion

    inner = binary_erosion(mask, iterations=2)
    pixel, _ = run_frontalize(frame, v, scale, r, t, occluded_black=False, sampling="pixel")
    vertex, _ = run_frontalize(frame, v, scale, r, t, occluded_black=False, sampling="vertex")
    err_pixel, err_vertex = np.abs(pixel - frame)[inner].mean(), np.abs(vertex - frame)[inner].mean()
    assert err_pixel < 1.0, err_pixel                  # the identity warp, up to float rounding
    assert err_vertex > 20.0, err_vertex               # one colour per vertex: noise averaged away
    with pytest.raises(ValueError, match="sampling='nearest' is not one of"):
        frontalize.frontalize(frame, jnp.asarray(v), scale, jnp.asarray(r), jnp.asarray(t), SIZE, sampling="nearest")


def test_point_visibility_on_a_hand_built_scene():
    """A 10 x 10 back square (z = 0) half covered by a front square (z = 5, x in 2..8, y in 2..8),
    plus a steep strip seen almost edge-on: back points under the front square are hidden, the rest
    (front square, uncovered back, the steep strip's own points) visible."""
    quad = lambda x0, y0, x1, y1, z0, z1: (np.array([[x0, y0, z0], [x1, y0, z1], [x1, y1, z1], [x0, y1, z0]],  # noqa: E731
                                                    np.float32))
    v = np.concatenate([quad(0, 0, 10, 10, 0, 0), quad(2, 2, 8, 8, 5, 5),
                        quad(10.5, 0, 11.5, 10, 0, 40)])   # strip: depth rises 40 over 1 px of x
    tris = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [8, 9, 10], [8, 10, 11]], np.int32)
    pts = np.array([[5, 5, 0], [1, 1, 0], [9, 5, 0], [5, 5, 5], [2.5, 7.5, 0], [11.0, 5.0, 20.0]], np.float32)
    own = np.array([0, 0, 0, 2, 1, 4], np.int32)
    vis = np.asarray(frontalize.point_visibility(jnp.asarray(pts), jnp.asarray(own), jnp.asarray(v), jnp.asarray(tris),
                                                 12, 12, 0.5))
    np.testing.assert_array_equal(vis, [0, 1, 1, 1, 0, 1])
    # Without the shared-vertex rule the steep strip's point would fail the depth test somewhere
    # (its buffer sample a quarter pixel away is ~10 deeper or nearer); with a wrong triangle it is hidden.
    vis = np.asarray(frontalize.point_visibility(jnp.asarray(pts[5:]), jnp.asarray([0]), jnp.asarray(v),
                                                 jnp.asarray(tris), 12, 12, 0.5))
    assert vis[0] == 0


def test_visibility_option_is_checked():
    v, r = pose_mesh(0.0, 10.0, np.array([48.0, 48.0, 0.0], np.float32))
    frame = np.zeros((SIZE, SIZE, 3), np.float32)
    with pytest.raises(ValueError, match="'pixel' needs sampling='pixel'"):
        frontalize.frontalize(frame, jnp.asarray(v), 10.0, jnp.asarray(r), jnp.zeros(3), SIZE, sampling="vertex",
                              visibility="pixel")


def test_mirror_maps_pair_the_face_across_its_symmetry_plane():
    m = canonical.registration_mesh()
    vertex, triangle = canonical.mirror_maps()
    lm = m.landmarks
    # iBUG-68 pairs: jaw ends, outer / inner eye corners, mouth corners; the nose tip and chin are
    # their own mirrors.
    for a, b in ((0, 16), (36, 45), (39, 42), (48, 54), (31, 35)):
        assert vertex[lm[a]] == lm[b] and vertex[lm[b]] == lm[a], (a, b)
    for a in (8, 30, 51, 57):
        assert vertex[lm[a]] == lm[a], a
    assert np.mean(vertex[vertex] == np.arange(len(vertex))) > 0.99
    assert np.abs(m.canonical[vertex] * [-1, 1, 1] - m.canonical).max() < 0.02
    # A triangle's mirror is built on its corners' mirrors (where the triangulation has one).
    mirrored = np.sort(vertex[m.triangles[triangle]], axis=1) == np.sort(m.triangles, axis=1)
    assert np.mean(mirrored.all(1)) > 0.97  # 96 of 4,278 have none: 93 in the membranes, 3 at the rim


@pytest.mark.parametrize("sampling, visibility", [("pixel", "pixel"), ("pixel", "vertex"), ("vertex", "vertex")])
def test_mirror_fill_paints_the_hidden_side_from_the_visible_one(sampling, visibility):
    # A face coloured symmetrically (even in canonical x), turned 45 degrees: the cheek it hides
    # comes back with its mirror's colours, i.e. close to the frontal render.
    c = canonical.registration_mesh().canonical
    sym = (127.5 + 110 * np.stack([np.cos(4 * c[:, 0]), np.cos(2.5 * c[:, 1]), np.cos(3 * c[:, 0]) * np.sin(2 * c[:, 1])],
                                  -1)).astype(np.float32)
    tris = jnp.asarray(canonical.registration_mesh().triangles)
    scale, out_t = frontalize.output_placement(SIZE)
    v0, r0 = pose_mesh(0.0, scale, np.array([out_t[0], out_t[1], 0.0], np.float32))
    front, mask = (np.asarray(x) for x in render(jnp.asarray(v0), jnp.asarray(sym), tris, SIZE))
    t = np.array([50.0, 46.0, 0.0], np.float32)
    v, r = pose_mesh(45.0, 0.75 * scale, t)
    frame = np.asarray(render(jnp.asarray(v), jnp.asarray(sym), tris, SIZE)[0])

    def run(frame, v, s, r, t, fill):
        out, _ = frontalize.frontalize_batch(
            jnp.asarray(frame)[None], jnp.asarray(v)[None], jnp.asarray([s], jnp.float32), jnp.asarray(r)[None],
            jnp.asarray(t)[None], jnp.eye(3), size=SIZE, sampling=sampling, visibility=visibility, fill=fill)
        return np.asarray(out[0])

    black_out, filled = run(frame, v, 0.75 * scale, r, t, "none"), run(frame, v, 0.75 * scale, r, t, "mirror")
    from scipy.ndimage import binary_erosion
    inner = binary_erosion(mask, iterations=2)
    was_black = inner & (black_out.sum(-1) < 1.0)
    assert was_black.sum() > 100
    assert (inner & (filled.sum(-1) < 1.0)).sum() < was_black.sum() / 5
    assert np.median(np.abs(filled - front)[was_black]) < 12.0
    # Where the frame shows the surface, the fill leaves the output as it was.
    shown = inner & (black_out.sum(-1) > 30.0)
    assert np.median(np.abs(filled - black_out)[shown]) < 1e-3
    # Frontal: only surface judged hidden is filled, which brings the output nearer the render; with
    # per-pixel visibility (a hard mask) that is the little a frontal view hides (beside the nose,
    # under the jaw) and every pixel the frame shows is unchanged, bit for bit.
    t0 = np.array([out_t[0], out_t[1], 0.0], np.float32)
    plain, mirrored = run(front, v0, scale, r0, t0, "none"), run(front, v0, scale, r0, t0, "mirror")
    assert np.abs(mirrored - front)[inner].mean() <= np.abs(plain - front)[inner].mean()
    if visibility == "pixel":
        hidden = mask & (plain.sum(-1) < 1.0)
        np.testing.assert_array_equal(mirrored[~hidden], plain[~hidden])
        assert hidden.sum() < 0.03 * mask.sum()
    with pytest.raises(ValueError, match="fill='both' is not one of"):
        frontalize.frontalize(front, jnp.asarray(v0), scale, jnp.asarray(r0), jnp.asarray(t0), SIZE, fill="both")
