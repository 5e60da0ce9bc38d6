// Space view: satellites of a catalog on MapLibre's globe projection.
//
// Positions come from the service (POST /v1/space/jobs/propagate: SGP4 in Python, ITRF
// position and velocity every step_s). The browser computes no orbit: between two
// server epochs it interpolates with a cubic Hermite polynomial on the server's position
// AND velocity (both ends), then converts ECEF to geodetic for display. The globe shows
// sub-satellite points (MapLibre draws on the surface; altitude is in the panel).
import { api } from "./api.js";
import { t } from "./i18n.js";

const A = 6378137.0; // WGS84
const F = 1 / 298.257223563;
const E2 = F * (2 - F);

export class Space {
  constructor(map, ui) {
    this.map = map;
    this.ui = ui;
    this.eph = null; // { times: Float64Array ms, ids: number[], pos, vel: Float64Array [sat][time][3] }
    this.simMs = Date.now();
    this.playing = true;
    this.speed = 60;
    this.lastFrame = performance.now();
    this.lastDraw = 0;
    this.selected = null;
    this.visible = false;
  }

  addLayers() {
    const m = this.map;
    const empty = { type: "FeatureCollection", features: [] };
    m.addSource("sats", { type: "geojson", data: empty });
    m.addSource("sat-track", { type: "geojson", data: empty });
    m.addSource("sat-foot", { type: "geojson", data: empty });
    m.addLayer({ id: "sat-foot", type: "fill", source: "sat-foot", layout: { visibility: "none" }, paint: { "fill-color": "#f472b6", "fill-opacity": 0.15 } });
    m.addLayer({ id: "sat-foot-line", type: "line", source: "sat-foot", layout: { visibility: "none" }, paint: { "line-color": "#f472b6", "line-width": 1 } });
    m.addLayer({ id: "sat-track", type: "line", source: "sat-track", layout: { visibility: "none" }, paint: { "line-color": "#f472b6", "line-width": 1.5 } });
    m.addLayer({
      id: "sats",
      type: "circle",
      source: "sats",
      layout: { visibility: "none" },
      paint: {
        "circle-radius": ["case", ["get", "sel"], 6, 3],
        "circle-color": ["case", ["get", "sel"], "#f472b6", "#7dd3fc"],
        "circle-stroke-width": 0.5,
        "circle-stroke-color": "#0f172a",
      },
    });
    m.on("click", "sats", (e) => this.select(Number(e.features[0].properties.id)));
    const $ = (id) => document.getElementById(id);
    $("space-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.compute().catch((err) => this.ui.message(t("err.http", { status: err.status ?? "", detail: err.detail ?? err.message })));
    });
    $("play").onclick = () => {
      this.playing = !this.playing;
      this.relabel();
    };
    $("speed").onchange = (e) => (this.speed = Number(e.target.value));
    $("jump-start").onclick = () => this.eph && (this.simMs = this.eph.times[0]);
    $("jump-now").onclick = () => (this.simMs = Date.now());
    $("scrub").oninput = (e) => {
      if (!this.eph) return;
      const tt = this.eph.times;
      this.simMs = tt[0] + (Number(e.target.value) / 1000) * (tt[tt.length - 1] - tt[0]);
    };
    requestAnimationFrame((ts) => this.frame(ts));
  }

  setVisible(v) {
    this.visible = v;
    for (const l of ["sats", "sat-track", "sat-foot", "sat-foot-line"]) this.map.setLayoutProperty(l, "visibility", v ? "visible" : "none");
    document.getElementById("panel-space").hidden = !v;
    if (v) this.loadCatalogs();
  }

  async loadCatalogs() {
    const sel = document.getElementById("catalog");
    if (sel.options.length) return;
    const r = await api("/v1/space/catalogs");
    for (const c of r.catalogs) {
      const o = document.createElement("option");
      o.value = o.textContent = c.name;
      sel.appendChild(o);
    }
    if ([...sel.options].some((o) => o.value === "qianfan")) sel.value = "qianfan";
  }

  /** Start a propagate job, follow its progress, fetch and index the ephemeris. */
  async compute() {
    const $ = (id) => document.getElementById(id);
    const start = new Date(Math.floor(Date.now() / 60000) * 60000).toISOString().replace(".000Z", "Z");
    const body = {
      catalog: $("catalog").value,
      start_utc: start,
      hours: Number($("hours").value),
      step_s: Number($("step").value),
      frame: "itrf",
      format: "csv",
    };
    let job = await api("/v1/space/jobs/propagate", { method: "POST", body });
    while (job.state === "queued" || job.state === "running") {
      $("job").textContent = t("space.job", { id: job.id, state: job.state, pct: Math.round(job.progress * 100) });
      await new Promise((r) => setTimeout(r, 500));
      job = await api(`/v1/jobs/${job.id}`);
    }
    $("job").textContent = t("space.job", { id: job.id, state: job.state, pct: Math.round(job.progress * 100) });
    if (job.state !== "done") throw new Error(job.error || job.state);
    const name = job.files.find((f) => f.endsWith(".csv")) || job.files[0];
    const text = await (await api(`/v1/jobs/${job.id}/result/${encodeURIComponent(name)}`, { raw: true })).text();
    this.eph = parseEphemeris(text);
    this.simMs = Math.min(Math.max(Date.now(), this.eph.times[0]), this.eph.times[this.eph.times.length - 1]);
    this.selected = null;
    this.map.getSource("sat-track").setData({ type: "FeatureCollection", features: [] });
    this.relabel();
    this.draw();
  }

  frame(ts) {
    const dt = ts - this.lastFrame;
    this.lastFrame = ts;
    if (this.eph && this.playing) {
      const tt = this.eph.times;
      this.simMs += dt * this.speed;
      if (this.simMs > tt[tt.length - 1]) this.simMs = tt[0]; // loop over the window
    }
    // Redraw at most 10 times a second, and only when the clock moved (a paused globe
    // goes idle: no GeoJSON re-tiling).
    if (this.visible && this.eph && ts - this.lastDraw > 100 && this.simMs !== this.drawnMs) {
      this.lastDraw = ts;
      this.draw();
    }
    requestAnimationFrame((x) => this.frame(x));
  }

  draw() {
    const e = this.eph;
    this.drawnMs = this.simMs;
    const n = e.ids.length;
    const feats = new Array(n);
    const p = [0, 0, 0];
    const g = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      interpolate(e, i, this.simMs, p);
      ecefToGeodetic(p, g);
      feats[i] = {
        type: "Feature",
        geometry: { type: "Point", coordinates: [g[0], g[1]] },
        properties: { id: e.ids[i], sel: e.ids[i] === this.selected, alt_km: g[2] / 1000 },
      };
      if (e.ids[i] === this.selected) {
        this.selectedAltKm = g[2] / 1000;
        this.map.getSource("sat-foot").setData(footprint(g[0], g[1], g[2], Number(document.getElementById("min-elev").value)));
      }
    }
    this.map.getSource("sats").setData({ type: "FeatureCollection", features: feats });
    this.features = feats;
    const tt = e.times;
    document.getElementById("clock").textContent = new Date(this.simMs).toISOString().slice(0, 19) + "Z";
    document.getElementById("scrub").value = String(Math.round((1000 * (this.simMs - tt[0])) / (tt[tt.length - 1] - tt[0] || 1)));
    if (this.selected != null) {
      document.getElementById("sat-selected").textContent = t("space.selected", {
        id: this.selected,
        alt: (this.selectedAltKm ?? 0).toFixed(0),
      });
    }
  }

  /** [lon, lat] of satellite number i as last drawn (for tests). */
  lastLonLat(i) {
    return this.features ? this.features[i].geometry.coordinates : null;
  }

  /** Ground track of one satellite over the window, from the server's epochs. */
  select(id) {
    this.selected = id;
    delete document.getElementById("sat-selected").dataset.i18n; // no longer the hint
    const e = this.eph;
    const i = e.ids.indexOf(id);
    const nt = e.times.length;
    const lines = [];
    let cur = [];
    const g = [0, 0, 0];
    for (let k = 0; k < nt; k++) {
      const o = (i * nt + k) * 3;
      ecefToGeodetic([e.pos[o], e.pos[o + 1], e.pos[o + 2]], g);
      if (cur.length && Math.abs(g[0] - cur[cur.length - 1][0]) > 180) {
        lines.push(cur);
        cur = [];
      }
      cur.push([g[0], g[1]]);
    }
    lines.push(cur);
    this.map.getSource("sat-track").setData({
      type: "Feature",
      geometry: { type: "MultiLineString", coordinates: lines },
      properties: {},
    });
    this.draw();
  }

  relabel() {
    document.getElementById("play").textContent = t(this.playing ? "clock.pause" : "clock.play");
    if (this.eph) {
      this.draw();
      document.getElementById("sat-stats").textContent = t("space.loaded", { n: this.eph.ids.length, t: this.eph.times.length });
    }
  }
}

/** Footprint: where the satellite is above minElevDeg, as a small circle on a sphere of
 * the mean Earth radius (central angle = acos(R cos(e) / (R + h)) - e). Display only. */
export function footprint(lonDeg, latDeg, heightM, minElevDeg) {
  const R = 6371008.8;
  const e = (minElevDeg * Math.PI) / 180;
  const lam = Math.acos((R * Math.cos(e)) / (R + heightM)) - e;
  const la = (latDeg * Math.PI) / 180;
  const lo = (lonDeg * Math.PI) / 180;
  const ring = [];
  for (let k = 0; k <= 72; k++) {
    const az = (k / 72) * 2 * Math.PI;
    const lat2 = Math.asin(Math.sin(la) * Math.cos(lam) + Math.cos(la) * Math.sin(lam) * Math.cos(az));
    const lon2 = lo + Math.atan2(Math.sin(az) * Math.sin(lam) * Math.cos(la), Math.cos(lam) - Math.sin(la) * Math.sin(lat2));
    ring.push([(((lon2 * 180) / Math.PI + 540) % 360) - 180, (lat2 * 180) / Math.PI]);
  }
  // Keep the ring continuous across the antimeridian (MapLibre accepts |lon| > 180).
  for (let k = 1; k < ring.length; k++) {
    while (ring[k][0] - ring[k - 1][0] > 180) ring[k][0] -= 360;
    while (ring[k][0] - ring[k - 1][0] < -180) ring[k][0] += 360;
  }
  return { type: "Feature", geometry: { type: "Polygon", coordinates: [ring] }, properties: {} };
}

/** Index the job's CSV (time_utc, norad_id, x_m, y_m, z_m, vx_m_s, vy_m_s, vz_m_s, error). */
export function parseEphemeris(text) {
  const lines = text.split("\n");
  const head = lines[0].split(",").map((s) => s.replace(/"/g, ""));
  const c = (n) => head.indexOf(n);
  const [ct, ci, cx, cy, cz, cvx, cvy, cvz, ce] = [
    "time_utc", "norad_id", "x_m", "y_m", "z_m", "vx_m_s", "vy_m_s", "vz_m_s", "error",
  ].map(c);
  const timeIdx = new Map();
  const satIdx = new Map();
  const rows = [];
  for (let r = 1; r < lines.length; r++) {
    if (!lines[r]) continue;
    const f = lines[r].split(",");
    const ts = f[ct].replace(/"/g, "");
    if (!timeIdx.has(ts)) timeIdx.set(ts, timeIdx.size);
    const id = Number(f[ci]);
    if (!satIdx.has(id)) satIdx.set(id, satIdx.size);
    rows.push(f);
  }
  const times = Float64Array.from([...timeIdx.keys()].map((s) => Date.parse(s.slice(0, 23) + "Z")));
  const nt = times.length;
  const ns = satIdx.size;
  const pos = new Float64Array(ns * nt * 3).fill(NaN);
  const vel = new Float64Array(ns * nt * 3).fill(NaN);
  for (const f of rows) {
    if (ce >= 0 && f[ce] && f[ce] !== "0") continue; // SGP4 error at this epoch: leave NaN
    const o = (satIdx.get(Number(f[ci])) * nt + timeIdx.get(f[ct].replace(/"/g, ""))) * 3;
    pos[o] = +f[cx]; pos[o + 1] = +f[cy]; pos[o + 2] = +f[cz];
    vel[o] = +f[cvx]; vel[o + 1] = +f[cvy]; vel[o + 2] = +f[cvz];
  }
  return { times, ids: [...satIdx.keys()], pos, vel };
}

/** Cubic Hermite between the two server epochs around tMs (position + velocity at both). */
export function interpolate(e, i, tMs, out) {
  const tt = e.times;
  const nt = tt.length;
  let k = 0;
  if (tMs <= tt[0]) k = 0;
  else if (tMs >= tt[nt - 1]) k = nt - 2;
  else {
    let lo = 0, hi = nt - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (tt[mid] <= tMs) lo = mid; else hi = mid;
    }
    k = lo;
  }
  if (nt < 2) k = 0;
  const h = nt < 2 ? 0 : (tt[k + 1] - tt[k]) / 1000;
  const s = h ? Math.min(Math.max((tMs - tt[k]) / 1000 / h, 0), 1) : 0;
  const o0 = (i * nt + k) * 3;
  const o1 = o0 + 3;
  const s2 = s * s, s3 = s2 * s;
  const h00 = 2 * s3 - 3 * s2 + 1, h10 = s3 - 2 * s2 + s, h01 = -2 * s3 + 3 * s2, h11 = s3 - s2;
  for (let j = 0; j < 3; j++) {
    if (!h) out[j] = e.pos[o0 + j];
    else out[j] = h00 * e.pos[o0 + j] + h10 * h * e.vel[o0 + j] + h01 * e.pos[o1 + j] + h11 * h * e.vel[o1 + j];
  }
  return out;
}

/** WGS84 ECEF (m) to [lon_deg, lat_deg, height_m] (Bowring, then two Newton refinements). */
export function ecefToGeodetic(p, out) {
  const [x, y, z] = p;
  const r = Math.hypot(x, y);
  let lat = Math.atan2(z, r * (1 - E2));
  let hgt = 0;
  for (let it = 0; it < 3; it++) {
    const sl = Math.sin(lat);
    const N = A / Math.sqrt(1 - E2 * sl * sl);
    hgt = r / Math.cos(lat) - N;
    lat = Math.atan2(z, r * (1 - (E2 * N) / (N + hgt)));
  }
  out[0] = (Math.atan2(y, x) * 180) / Math.PI;
  out[1] = (lat * 180) / Math.PI;
  out[2] = hgt;
  return out;
}
