"""The fixed, seeded fire-injection protocol used by ``test_fire_injection.py``.

There is no real fire truth in the fixtures, so detection is measured by injecting
synthetic fire clusters into the real scenes and counting what comes back.

Protocol (fixed; change it only together with decision 0021):

1. Scenes: the four real fixtures in ``tests/data/sensing`` (Landsat-8 016/037 with
   27 % cloud, Landsat-8 001/062 with 99.9 % cloud, Sentinel-2 29RKH bright desert at
   200 m, MODIS NBAR h21v11), read with the production readers.
2. Eligible pixels: valid (every band finite), not cloud (product QA), not water
   (Schroeder's water test for Landsat; none for S2/MODIS), with positive NIR and
   SWIR1 reflectance (a ratio test needs a positive denominator).
3. Placements, cycled in this order over the ones the scene offers:
   ``water_edge`` (eligible pixel with a water pixel among its 8 neighbours),
   ``cloud_edge`` (same with a cloud pixel), ``bright`` (eligible pixel in the top 10 %
   of the scene's 2.2 um reflectance: bright desert / bright soil), ``clear`` (any other
   eligible pixel).
4. 50 clusters per scene, ``numpy.random.default_rng(SEED + scene index)``: size 1-4
   pixels (1: single, 2: pair, 3: L, 4: 2x2 block; random rotation), anchor drawn from
   the placement's pool (the next placement's when that pool is used up), every pixel
   eligible, and no pixel touching another cluster (8-connectivity, so clusters stay
   separate components). Up to 200 draws per shape; a shape that does not fit is shrunk
   by one pixel (the cloudy 001/062 scene has only 284 clear pixels, in 1-3 pixel
   pieces); a cluster that cannot be placed at all is reported, not hidden.
5. Signal: fire raises only the 2.2 um band (OLI band 7 / S2 B12 / MODIS band 7); the
   other bands keep the scene's values. For every injected pixel the *minimum detectable*
   2.2 um reflectance ``s_min`` is computed here, independently of the library, from the
   algorithm's own thresholds; the injected value is ``m * s_min`` with one margin
   ``m`` per cluster drawn uniformly in (1.0, 1.5]. "1.0x-1.5x the thresholds" therefore
   means: the binding test passes by the factor ``m`` and every other test by at least
   that factor in the 2.2 um reflectance. Per algorithm:

   - Schroeder 2016 (contextual path; the unambiguous test is not required):
     ``s_min = max(1.8 rho5, rho5 + 0.17, 1.6 rho6, t_R rho5, t_7)`` with
     ``t_R = mean(R75) + max(3 sd(R75), 0.8)`` and ``t_7 = mean(rho7) + max(3 sd(rho7),
     0.08)`` over the 61x61 background (valid, not water, rho7 > 0, not injected),
     computed with plain numpy slices per pixel, i.e. the tests R75 > 1.8,
     rho7 - rho5 > 0.17, R76 > 1.6 and both contextual tests;
   - Murphy 2016 alpha (S2 and the MODIS analogue):
     ``s_min = max(1.4 r11, 1.4 r8a, 0.15)``, i.e. B12/B11 >= 1.4, B12/B8A >= 1.4,
     B12 >= 0.15.
6. Negative control: the same clusters with ``m`` in (0.7, 0.99] must give no
   detection at all (the thresholds are not looser than the papers').
7. Scoring: a cluster is detected when any of its pixels is a fire; pixel recall counts
   pixels. Every fire pixel that is not an injected pixel is a false alarm, reported per
   million valid pixels of the scene.

A supplementary sweep (:func:`subpixel_sweep`) injects physically shaped sub-pixel
fires (Planck radiance in OLI bands 5-7) and reports detection rates without a target.

What this cannot show: that real fires look like this (real fires also raise SWIR1 and
NIR, saturate, fold DNs, come with smoke and sub-pixel sizes), that the thresholds are
right (they are the papers'), or a commission rate on burning scenes; the fixtures are
resampled to 200-4600 m, so 61x61 windows span 12-280 km instead of 1.8 km. A
fire-free result with zero false alarms over the 455,025 valid pixels of the four
scenes bounds the false-alarm rate only to < 6.6 per million (95 %, rule of three),
not to 1. The signal is derived from the thresholds, so recall near 100 % mostly shows
that the implementation, the masks and the window statistics agree with the written
tests (an independent per-pixel numpy computation), and the negative control shows the
thresholds are not looser than the papers'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kongtian.sensing.fire.landsat import schroeder2016, water_test
from kongtian.sensing.fire.result import FireResult
from kongtian.sensing.fire.sentinel2 import murphy2016
from kongtian.sensing.scenes import Scene, load_landsat, load_modis, load_sentinel2

DATA = Path(__file__).resolve().parents[1] / "data" / "sensing"
SEED = 20261122
N_CLUSTERS = 50
MARGIN = (1.0, 1.5)
PLACEMENTS = ("water_edge", "cloud_edge", "bright", "clear")
LANDSAT = ("coastal", "blue", "green", "red", "nir", "swir16", "swir22")
SCENES = {
    "landsat8_016037": ("landsat", "landsat8_c1l1tp_016037_20170813"),
    "landsat8_001062": ("landsat", "landsat8_c2l2sp_001062_20201031"),
    "sentinel2_29RKH": ("sentinel2", "sentinel2_l2a_29RKH_20200219_swir"),
    "modis_h21v11": ("modis", "modis_mcd43a4_h21v11_2017006"),
}
SHAPES = {
    1: [(0, 0)],
    2: [(0, 0), (0, 1)],
    3: [(0, 0), (0, 1), (1, 0)],
    4: [(0, 0), (0, 1), (1, 0), (1, 1)],
}


@dataclass
class Cluster:
    placement: str
    margin: float
    pixels: list[tuple[int, int]]


@dataclass
class ProtocolResult:
    scene: str
    valid_pixels: int
    clusters: list[Cluster]
    detected: list[bool]
    pixel_hits: int
    pixel_total: int
    false_alarms: int
    unplaced: int
    clean_fires: int
    per_placement: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return sum(self.detected) / max(1, len(self.detected))

    @property
    def pixel_recall(self) -> float:
        return self.pixel_hits / max(1, self.pixel_total)

    @property
    def false_alarms_per_million(self) -> float:
        return 1e6 * self.false_alarms / max(1, self.valid_pixels)


def load(kind: str, folder: str) -> Scene:
    path = DATA / folder
    if kind == "landsat":
        return load_landsat(path, LANDSAT)
    if kind == "sentinel2":
        return load_sentinel2(path, ("nir08", "swir16", "swir22"))
    return load_modis(path, ("nir", "swir16", "swir22"))


def swir_names(kind: str) -> tuple[str, str, str]:
    return ("nir08", "swir16", "swir22") if kind == "sentinel2" else ("nir", "swir16", "swir22")


def detect(kind: str, scene: Scene, bands: dict[str, Any]) -> FireResult:
    if kind == "landsat":
        return schroeder2016(bands, scene.cloud)
    n, s1, s2 = swir_names(kind)
    return murphy2016(bands[n], bands[s1], bands[s2], scene.cloud if kind != "modis" else None)


def _neighbour_any(mask: Any) -> Any:
    """True where any 8-neighbour is True (explicit shifts, independent of the library)."""
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    h, w = m.shape[0] - 2, m.shape[1] - 2
    out = np.zeros((h, w), dtype=bool)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                out |= m[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
    return out


def _water(kind: str, b: dict[str, Any]) -> Any:
    if kind != "landsat":
        return np.zeros(b["swir22"].shape, dtype=bool)
    r = {i + 1: b[name] for i, name in enumerate(LANDSAT)}
    with np.errstate(invalid="ignore"):
        return water_test(r) & np.all([np.isfinite(a) for a in r.values()], axis=0)


def pools(kind: str, scene: Scene) -> tuple[Any, dict[str, Any]]:
    b = scene.bands
    nir, sw1, sw2 = swir_names(kind)
    water = _water(kind, b)
    cloud = scene.cloud if kind != "modis" else np.zeros(water.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        eligible = scene.valid & ~water & ~cloud & (b[nir] > 0) & (b[sw1] > 0) & (b[sw2] > 0)
    out = {
        "water_edge": eligible & _neighbour_any(water),
        "cloud_edge": eligible & _neighbour_any(cloud),
    }
    vals = b[sw2][eligible]
    top = np.percentile(vals, 90) if vals.size else np.inf
    out["bright"] = eligible & (b[sw2] >= top)
    out["clear"] = eligible & ~out["water_edge"] & ~out["cloud_edge"] & ~out["bright"]
    return eligible, out


def place(
    rng: np.random.Generator,
    eligible: Any,
    pool: dict[str, Any],
    margins: tuple[float, float] = MARGIN,
) -> tuple[list[Cluster], int]:
    order = [p for p in PLACEMENTS if pool[p].any()]
    blocked = np.zeros(eligible.shape, dtype=bool)
    h, w = eligible.shape
    clusters: list[Cluster] = []
    unplaced = 0
    for i in range(N_CLUSTERS):
        # the placement's turn; if its pool is used up, the next placement in the order
        turn = [order[(i + j) % len(order)] for j in range(len(order))]
        name = next((n for n in turn if (pool[n] & ~blocked).any()), turn[0])
        anchors = np.argwhere(pool[name] & ~blocked)
        margin = float(margins[1] - (margins[1] - margins[0]) * rng.random())  # (lo, hi]
        size = int(rng.integers(1, 5))
        placed = None
        # a shape that does not fit in 200 draws is shrunk by one pixel (sizes 4 -> 1)
        for k_size in range(size, 0, -1):
            for _ in range(200):
                if anchors.size == 0:
                    break
                r0, c0 = anchors[int(rng.integers(len(anchors)))]
                k = int(rng.integers(4))
                pix = []
                for dr, dc in SHAPES[k_size]:
                    for _ in range(k):
                        dr, dc = dc, -dr  # rotate by 90 degrees
                    pix.append((int(r0 + dr), int(c0 + dc)))
                if all(
                    0 <= r < h and 0 <= c < w and eligible[r, c] and not blocked[r, c]
                    for r, c in pix
                ):
                    placed = pix
                    break
            if placed is not None:
                break
        if placed is None:
            unplaced += 1
            continue
        for r, c in placed:
            blocked[max(0, r - 1) : r + 2, max(0, c - 1) : c + 2] = True
        clusters.append(Cluster(name, margin, placed))
    return clusters, unplaced


def _landsat_s_min(
    b: dict[str, Any], clusters: list[Cluster], water: Any, valid: Any
) -> dict[tuple[int, int], float]:
    """Minimum detectable rho7 of every injected pixel (plain numpy, per-pixel windows)."""
    r5, r6, r7 = (
        b["nir"].astype(np.float64),
        b["swir16"].astype(np.float64),
        b["swir22"].astype(np.float64),
    )
    injected = np.zeros(r7.shape, dtype=bool)
    for cl in clusters:
        for r, c in cl.pixels:
            injected[r, c] = True
    with np.errstate(invalid="ignore", divide="ignore"):
        r75 = np.where(r5 > 0, r7 / r5, np.nan)
        background = valid & ~water & (r7 > 0) & np.isfinite(r75) & ~injected
    out = {}
    half = 30
    for cl in clusters:
        for r, c in cl.pixels:
            sl = (slice(max(0, r - half), r + half + 1), slice(max(0, c - half), c + half + 1))
            bg = background[sl]
            vr, v7 = r75[sl][bg], r7[sl][bg]
            t_r = vr.mean() + max(3.0 * vr.std(), 0.8)
            t_7 = v7.mean() + max(3.0 * v7.std(), 0.08)
            a5, a6 = float(r5[r, c]), float(r6[r, c])
            out[(r, c)] = max(1.8 * a5, a5 + 0.17, 1.6 * a6, t_r * a5, t_7)
    return out


def run(scene_key: str, margins: tuple[float, float] = MARGIN) -> ProtocolResult:
    """Run the protocol on one scene (deterministic); ``margins`` = the (lo, hi] range."""
    kind, folder = SCENES[scene_key]
    scene = load(kind, folder)
    index = list(SCENES).index(scene_key)
    rng = np.random.default_rng(SEED + index)
    clean = detect(kind, scene, scene.bands)
    eligible, pool = pools(kind, scene)
    clusters, unplaced = place(rng, eligible, pool, margins)
    bands = {k: v.copy() for k, v in scene.bands.items()}
    nir, sw1, sw2 = swir_names(kind)
    if kind == "landsat":
        s_min = _landsat_s_min(bands, clusters, _water(kind, bands), scene.valid)
    else:
        s_min = {
            (r, c): max(1.4 * float(bands[sw1][r, c]), 1.4 * float(bands[nir][r, c]), 0.15)
            for cl in clusters
            for r, c in cl.pixels
        }
    truth = np.zeros(scene.shape, dtype=bool)
    for cl in clusters:
        for r, c in cl.pixels:
            bands[sw2][r, c] = np.float32(cl.margin * s_min[(r, c)])
            truth[r, c] = True
    res = detect(kind, scene, bands)
    detected = [any(bool(res.fire[r, c]) for r, c in cl.pixels) for cl in clusters]
    per: dict[str, tuple[int, int]] = {}
    for cl, d in zip(clusters, detected, strict=True):
        hit, tot = per.get(cl.placement, (0, 0))
        per[cl.placement] = (hit + int(d), tot + 1)
    return ProtocolResult(
        scene=scene_key,
        valid_pixels=int(scene.valid.sum()),
        clusters=clusters,
        detected=detected,
        pixel_hits=int((res.fire & truth).sum()),
        pixel_total=int(truth.sum()),
        false_alarms=int((res.fire & ~truth).sum()),
        unplaced=unplaced,
        clean_fires=clean.n_fire,
        per_placement=per,
    )


def report() -> list[ProtocolResult]:
    """Run every scene and print one line per scene and placement."""
    results = [run(k) for k in SCENES]
    for p in results:
        print(
            f"{p.scene:17s} valid={p.valid_pixels:7d} clean_fires={p.clean_fires} "
            f"clusters={len(p.clusters)} unplaced={p.unplaced} recall={p.recall:.3f} "
            f"pixel_recall={p.pixel_recall:.3f} ({p.pixel_hits}/{p.pixel_total}) "
            f"false_alarms={p.false_alarms} ({p.false_alarms_per_million:.2f}/Mpx)"
        )
        for name, (hit, tot) in sorted(p.per_placement.items()):
            print(f"    {name:10s} {hit}/{tot}")
    total = sum(p.valid_pixels for p in results)
    fa = sum(p.false_alarms + p.clean_fires for p in results)
    print(f"total valid pixels {total}, false alarms {fa}, 95 % upper bound {3e6 / total:.1f}/Mpx")
    return results


# ----------------------------------------------------------------- sub-pixel fire sweep
#: OLI band centres (um), approximate (USGS Landsat 8 band designations)
OLI_CENTRE_UM = {5: 0.865, 6: 1.609, 7: 2.201}
SWEEP_FRACTIONS = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2)
SWEEP_TEMPERATURES_K = (800.0, 1000.0, 1200.0)


def planck_um(wl_um: float, t_k: float) -> float:
    """Blackbody spectral radiance, W m-2 sr-1 um-1 (c1 = 1.191042e8, c2 = 14387.77)."""
    return 1.191042e8 / wl_um**5 / np.expm1(14387.77 / (wl_um * t_k))


def subpixel_sweep(n: int = 200, seed: int = SEED) -> dict[tuple[float, float], float]:
    """Detection rate of single-pixel sub-pixel fires on the 016/037 scene (not asserted).

    A fire of area fraction ``p`` at temperature ``T`` replaces ``p`` of ``n`` seeded clear
    land pixels (at least 3 pixels apart): ``rho_b <- (1 - p) rho_b + p B(lambda_b, T) k_b``
    in OLI bands 5, 6, 7, with ``k_b = REFLECTANCE_MAXIMUM / RADIANCE_MAXIMUM / sin(sun
    elevation)`` from the scene's MTL (no atmosphere, band-centre Planck radiance). This
    raises SWIR1 and NIR too, unlike the threshold protocol, so it is closer to a real
    fire; at the fixture's 900 m pixels, p = 1e-3 is 810 m^2 of flame.
    """
    from kongtian.sensing.scaling import mtl_float, read_mtl

    kind, folder = SCENES["landsat8_016037"]
    scene = load(kind, folder)
    mtl = read_mtl(next((DATA / folder).glob("*_MTL.txt")))
    sin_e = np.sin(np.radians(mtl_float(mtl, "IMAGE_ATTRIBUTES", "SUN_ELEVATION")))
    k_b = {
        b: mtl_float(mtl, "MIN_MAX_REFLECTANCE", f"REFLECTANCE_MAXIMUM_BAND_{b}")
        / mtl_float(mtl, "MIN_MAX_RADIANCE", f"RADIANCE_MAXIMUM_BAND_{b}")
        / sin_e
        for b in OLI_CENTRE_UM
    }
    eligible, _ = pools(kind, scene)
    rng = np.random.default_rng(seed)
    cand = np.argwhere(eligible)
    blocked = np.zeros(eligible.shape, dtype=bool)
    picks: list[tuple[int, int]] = []
    for i in rng.permutation(len(cand)):
        r, c = (int(v) for v in cand[i])
        if not blocked[r, c]:
            picks.append((r, c))
            blocked[max(0, r - 3) : r + 4, max(0, c - 3) : c + 4] = True
        if len(picks) == n:
            break
    rows = np.array([p[0] for p in picks])
    cols = np.array([p[1] for p in picks])
    names = {5: "nir", 6: "swir16", 7: "swir22"}
    out = {}
    for t_k in SWEEP_TEMPERATURES_K:
        for p in SWEEP_FRACTIONS:
            bands = {k: v.copy() for k, v in scene.bands.items()}
            for b, name in names.items():
                add = p * planck_um(OLI_CENTRE_UM[b], t_k) * k_b[b]
                bands[name][rows, cols] = (1 - p) * bands[name][rows, cols] + add
            res = schroeder2016(bands, scene.cloud)
            hits = res.fire[rows, cols]
            truth = np.zeros(scene.shape, dtype=bool)
            truth[rows, cols] = True
            out[(t_k, p)] = float(hits.mean())
            out[(t_k, -p)] = float((res.fire & ~truth).sum())  # false alarms elsewhere
    return out


def report_sweep() -> dict[tuple[float, float], float]:
    res = subpixel_sweep()
    print("sub-pixel fires, Landsat-8 016/037 (900 m pixels), detection rate of 200 pixels")
    print("T_K    " + "  ".join(f"p={p:g}" for p in SWEEP_FRACTIONS))
    for t in SWEEP_TEMPERATURES_K:
        rates = "  ".join(f"{res[(t, p)]:8.2f}" for p in SWEEP_FRACTIONS)
        fas = sum(res[(t, -p)] for p in SWEEP_FRACTIONS)
        print(f"{t:5.0f}  {rates}   false alarms elsewhere: {fas:.0f}")
    return res


if __name__ == "__main__":
    report()
    report_sweep()
