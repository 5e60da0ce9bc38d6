// Airspace view: live tracks (GET /v1/traffic/tracks, then the WebSocket), short trails,
// zones with their altitude bands (GET /v1/traffic/zones), alerts with acknowledge and
// jump-to-object. Labels are HTML (no glyph server: the console is offline).
import { api } from "./api.js";
import { t } from "./i18n.js";

const TRAIL_POINTS = 20; // positions kept per track for its trail
const STALE_MS = 120_000; // a track without updates for this long leaves the map
const LABEL_MAX = 40;
const HISTORY_MS = 30 * 60_000; // track history shown: the last 30 min
const HISTORY_SPEED = 20; // playback speed of the history // beyond this many tracks in view only alerting tracks get a label

const KIND_COLOR = ["match", ["get", "kind"], "uas", "#22d3ee", "icao24", "#facc15", "mmsi", "#a78bfa", "#f472b6"];
const ZONE_COLOR = [
  "match",
  ["get", "kind"],
  "no-fly",
  "#ef4444",
  "restricted",
  "#f97316",
  "alert-only",
  "#eab308",
  "speed-limit",
  "#3b82f6",
  "#a3a3a3",
];

export class Airspace {
  constructor(map, ui) {
    this.map = map;
    this.ui = ui; // { role(): string, message(text|null) }
    this.tracks = new Map(); // object_id -> { t: track dict, trail: [[lon, lat]], seen: ms }
    this.alerts = new Map(); // alert_id -> alert dict
    this.zones = []; // [{ id, version, feature }]
    this.dirty = false;
    this.labelEls = new Map();
    this.visible = true;
  }

  addLayers() {
    const m = this.map;
    const empty = { type: "FeatureCollection", features: [] };
    m.addSource("zones", { type: "geojson", data: empty });
    m.addSource("trails", { type: "geojson", data: empty });
    m.addSource("tracks", { type: "geojson", data: empty });
    m.addSource("history", { type: "geojson", data: empty });
    m.addLayer({ id: "zones-fill", type: "fill", source: "zones", paint: { "fill-color": ZONE_COLOR, "fill-opacity": ["match", ["get", "kind"], "no-fly", 0.2, 0.07] } });
    m.addLayer({ id: "zones-line", type: "line", source: "zones", paint: { "line-color": ZONE_COLOR, "line-width": 1.5 } });
    m.addLayer({
      id: "trails",
      type: "line",
      source: "trails",
      paint: { "line-color": KIND_COLOR, "line-width": 1.5, "line-opacity": 0.6 },
    });
    m.addLayer({ id: "history", type: "line", source: "history", filter: ["==", ["geometry-type"], "LineString"], paint: { "line-color": "#f8fafc", "line-width": 2, "line-dasharray": [2, 1] } });
    m.addLayer({ id: "history-head", type: "circle", source: "history", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 6, "circle-color": "#f8fafc", "circle-stroke-width": 2, "circle-stroke-color": "#0f172a" } });
    m.addLayer({
      id: "tracks",
      type: "circle",
      source: "tracks",
      paint: {
        "circle-radius": ["case", ["get", "alert"], 6, 4],
        "circle-color": KIND_COLOR,
        "circle-stroke-width": ["case", ["get", "alert"], 2, 1],
        "circle-stroke-color": ["case", ["get", "alert"], "#ef4444", "#0f172a"],
      },
    });
    m.on("click", "tracks", (e) => this.popupTrack(e.features[0].properties.id, e.lngLat));
    m.on("click", "zones-fill", (e) => {
      if (m.queryRenderedFeatures(e.point, { layers: ["tracks"] }).length) return;
      this.popupZone(e.features[0].properties.id, e.lngLat);
    });
    for (const l of ["tracks", "zones-fill"]) {
      m.on("mouseenter", l, () => (m.getCanvas().style.cursor = "pointer"));
      m.on("mouseleave", l, () => (m.getCanvas().style.cursor = ""));
    }
    m.on("render", () => this.scheduleLabels());
    setInterval(() => this.flush(), 500);
    setInterval(() => this.reloadZones(), 60_000);
    document.getElementById("show-cleared").addEventListener("change", () => this.renderAlerts());
    for (const box of document.querySelectorAll("#kind-filter input")) {
      box.addEventListener("change", () => {
        this.dirty = true;
        this.flush();
      });
    }
    document.getElementById("history-stop").addEventListener("click", () => this.stopHistory());
    setInterval(() => this.playHistory(), 100);
  }

  setVisible(v) {
    this.visible = v;
    for (const l of ["zones-fill", "zones-line", "trails", "history", "history-head", "tracks"]) {
      this.map.setLayoutProperty(l, "visibility", v ? "visible" : "none");
    }
    this.scheduleLabels();
  }

  async load() {
    const [tr, zs, al] = await Promise.all([
      api("/v1/traffic/tracks"),
      api("/v1/traffic/zones"),
      api("/v1/traffic/alerts?limit=500"),
    ]);
    this.tracks.clear(); // a new key may see less (an operator: its own fleet only)
    this.alerts.clear();
    for (const x of tr.tracks) this.upsertTrack(x);
    this.setZones(zs.zones);
    for (const a of al.alerts) this.alerts.set(a.alert_id, a);
    this.renderAlerts();
    this.dirty = true;
    this.flush();
  }

  setZones(zones) {
    this.zones = zones;
    this.map.getSource("zones").setData({
      type: "FeatureCollection",
      features: zones.map((z) => zoneFeature(z.feature)),
    });
    this.scheduleLabels();
  }

  /** Zones change rarely and have no stream: re-read them every minute and whenever an
   * alert names a zone this page has not seen (debounced to one request per 2 s). */
  reloadZones() {
    if (this.zoneTimer) return;
    this.zoneTimer = setTimeout(async () => {
      this.zoneTimer = null;
      try {
        this.setZones((await api("/v1/traffic/zones")).zones);
      } catch {
        /* keep the zones we have; the next alert or minute retries */
      }
    }, 2000);
  }

  onMessage(msg) {
    const items = Array.isArray(msg.data) ? msg.data : [msg.data];
    if (msg.topic === "tracks") {
      for (const x of items) this.upsertTrack(x);
    } else if (msg.topic === "alerts") {
      for (const a of items) {
        this.alerts.set(a.alert_id, { ...this.alerts.get(a.alert_id), ...a });
        const zoneAlert = a.details && a.details.zone_kind;
        if (zoneAlert && a.other_id && !this.zones.some((z) => z.id === a.other_id)) this.reloadZones();
      }
      this.renderAlerts();
    }
  }

  upsertTrack(x) {
    if (x.lat_deg == null || x.lon_deg == null) return;
    let e = this.tracks.get(x.object_id);
    if (!e) {
      e = { t: x, trail: [], seen: 0 };
      this.tracks.set(x.object_id, e);
    }
    e.t = { ...e.t, ...x };
    const last = e.trail[e.trail.length - 1];
    if (!last || last[0] !== x.lon_deg || last[1] !== x.lat_deg) {
      e.trail.push([x.lon_deg, x.lat_deg]);
      if (e.trail.length > TRAIL_POINTS) e.trail.shift();
    }
    e.seen = Date.now();
    this.dirty = true;
  }

  flush() {
    const now = Date.now();
    for (const [id, e] of this.tracks) {
      if (now - e.seen > STALE_MS) {
        this.tracks.delete(id);
        this.dirty = true;
      }
    }
    if (!this.dirty || !this.map.getSource("tracks")) return;
    this.dirty = false;
    const alerting = this.alerting();
    const pts = [];
    const lines = [];
    const shown = this.shownKinds();
    for (const [id, e] of this.tracks) {
      const kind = e.t.kind || id.split(":")[0];
      if (!shown(kind)) continue;
      pts.push({
        type: "Feature",
        geometry: { type: "Point", coordinates: [e.t.lon_deg, e.t.lat_deg] },
        properties: { id, kind, alert: alerting.has(id) },
      });
      if (e.trail.length > 1) {
        lines.push({ type: "Feature", geometry: { type: "LineString", coordinates: e.trail }, properties: { id, kind } });
      }
    }
    this.map.getSource("tracks").setData({ type: "FeatureCollection", features: pts });
    this.map.getSource("trails").setData({ type: "FeatureCollection", features: lines });
    const counts = {};
    for (const [id, e] of this.tracks) {
      const k = e.t.kind || id.split(":")[0];
      counts[k] = (counts[k] || 0) + 1;
    }
    document.getElementById("track-stats").textContent =
      t("tracks.count", { n: this.tracks.size }) +
      (this.tracks.size ? " — " + Object.entries(counts).map(([k, n]) => `${t("kind." + k)} ${n}`).join(", ") : "");
    this.scheduleLabels();
  }

  /** The kind filter of the side panel (uas, icao24, mmsi, anything else). */
  shownKinds() {
    const on = new Set([...document.querySelectorAll("#kind-filter input:checked")].map((b) => b.value));
    return (kind) => on.has(["uas", "icao24", "mmsi"].includes(kind) ? kind : "other");
  }

  /** Objects with an active, unacknowledged alert. */
  alerting() {
    const s = new Set();
    for (const a of this.alerts.values()) if (a.state !== "cleared" && !a.acked_by) s.add(a.object_id);
    return s;
  }

  scheduleLabels() {
    if (this.labelPending) return;
    this.labelPending = true;
    requestAnimationFrame(() => {
      this.labelPending = false;
      this.drawLabels();
    });
  }

  /** HTML labels (id, altitude, speed) for the tracks in view, and the zones' bands. */
  drawLabels() {
    const box = document.getElementById("labels");
    const want = new Map();
    if (this.visible) {
      const b = this.map.getBounds();
      const inView = [];
      const shown = this.shownKinds();
      for (const [id, e] of this.tracks) {
        if (shown(e.t.kind || id.split(":")[0]) && b.contains([e.t.lon_deg, e.t.lat_deg])) inView.push([id, e]);
      }
      const alerting = this.alerting();
      for (const [id, e] of inView) {
        if (inView.length <= LABEL_MAX || alerting.has(id)) {
          want.set("t:" + id, { ll: [e.t.lon_deg, e.t.lat_deg], text: trackLabel(id, e.t), cls: "lbl" });
        }
      }
      if (this.map.getZoom() >= 10) {
        for (const z of this.zones) {
          const c = centre(z.feature.geometry);
          if (c && b.contains(c)) want.set("z:" + z.id, { ll: c, text: `${z.id} ${band(z.feature.properties)}`, cls: "lbl zone" });
        }
      }
    }
    for (const [k, el] of this.labelEls) {
      if (!want.has(k)) {
        el.remove();
        this.labelEls.delete(k);
      }
    }
    for (const [k, w] of want) {
      let el = this.labelEls.get(k);
      if (!el) {
        el = document.createElement("div");
        el.className = w.cls;
        el.dataset.id = k.slice(2);
        box.appendChild(el);
        this.labelEls.set(k, el);
      }
      if (el.textContent !== w.text) el.textContent = w.text;
      const p = this.map.project(w.ll);
      el.style.left = `${p.x}px`;
      el.style.top = `${p.y}px`;
    }
  }

  renderAlerts() {
    const ul = document.getElementById("alerts");
    const showCleared = document.getElementById("show-cleared").checked;
    const canAck = ["regulator", "admin"].includes(this.ui.role());
    const list = [...this.alerts.values()]
      .filter((a) => showCleared || (a.state !== "cleared" && !a.acked_by))
      .sort((a, b) => (b.last_time_utc || "").localeCompare(a.last_time_utc || ""))
      .slice(0, 200);
    document.getElementById("alert-count").textContent = String(
      [...this.alerts.values()].filter((a) => a.state !== "cleared" && !a.acked_by).length,
    );
    ul.replaceChildren();
    if (!list.length) {
      const li = document.createElement("li");
      li.className = "none muted";
      li.textContent = t("alerts.none");
      ul.appendChild(li);
    }
    for (const a of list) {
      const li = document.createElement("li");
      li.className = `alert ${a.severity || ""} ${a.state || ""} ${a.acked_by ? "acked" : ""}`;
      li.dataset.alertId = a.alert_id;
      li.dataset.objectId = a.object_id;
      li.dataset.kind = a.kind;
      const head = document.createElement("div");
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = t("alert." + a.kind) === "alert." + a.kind ? a.kind : t("alert." + a.kind);
      head.append(kind, ` · ${t("sev." + a.severity)} · ${t("state." + a.state)}`);
      const what = document.createElement("div");
      what.textContent = `${a.object_id}${a.other_id ? " ↔ " + a.other_id : ""}`;
      const row = document.createElement("div");
      row.className = "row muted";
      row.append(`${fmtTime(a.last_time_utc)} ×${a.count ?? 1}`);
      const loc = document.createElement("button");
      loc.className = "locate";
      loc.textContent = t("alerts.locate");
      loc.onclick = () => this.locate(a);
      row.append(loc);
      if (a.acked_by) {
        row.append(` ${t("alerts.acked")}`);
      } else if (canAck) {
        const ack = document.createElement("button");
        ack.className = "ack";
        ack.textContent = t("alerts.ack");
        ack.onclick = async () => {
          try {
            const r = await api(`/v1/traffic/alerts/${encodeURIComponent(a.alert_id)}/ack`, { method: "POST" });
            this.alerts.set(a.alert_id, { ...a, ...(r.alert || r) });
            this.renderAlerts();
            this.dirty = true;
          } catch (err) {
            this.ui.message(t("err.http", { status: err.status, detail: err.detail }));
          }
        };
        row.append(ack);
      }
      li.append(head, what, row);
      ul.appendChild(li);
    }
    this.dirty = true;
  }

  locate(a) {
    const e = this.tracks.get(a.object_id);
    if (e) {
      this.map.flyTo({ center: [e.t.lon_deg, e.t.lat_deg], zoom: Math.max(this.map.getZoom(), 13) });
      this.popupTrack(a.object_id, [e.t.lon_deg, e.t.lat_deg]);
      return;
    }
    const z = this.zones.find((z) => z.id === a.other_id);
    const c = z && centre(z.feature.geometry);
    if (c) this.map.flyTo({ center: c, zoom: 12 });
  }

  popupTrack(id, lngLat) {
    const e = this.tracks.get(id);
    if (!e) return;
    const x = e.t;
    const rows = [
      [t("f.kind"), t("kind." + x.kind)],
      [t("f.alt"), x.alt_m == null ? null : `${x.alt_m.toFixed(0)} m ${x.alt_ref || ""}`],
      [t("f.speed"), x.speed_m_s == null ? null : `${x.speed_m_s.toFixed(1)} m/s`],
      [t("f.track"), x.track_deg == null ? null : `${x.track_deg.toFixed(0)}°`],
      [t("f.vrate"), x.vrate_m_s == null ? null : `${x.vrate_m_s.toFixed(1)} m/s`],
      [t("f.time"), x.time_utc],
      [t("f.sources"), (x.sources || []).join(", ")],
      [t("f.owner"), x.owner], // absent for keys the API withholds it from: not shown
    ];
    this.ui.popup(lngLat, id, rows, [[t("history.show"), () => this.showHistory(id)]]);
  }

  popupZone(id, lngLat) {
    const z = this.zones.find((z) => z.id === id);
    if (!z) return;
    const p = z.feature.properties;
    this.ui.popup(lngLat, p.name || id, [
      [t("f.kind"), p.kind],
      [t("f.band"), band(p)],
    ]);
  }

  /** Track history playback: the stored reports of the last 30 min (GET
   * /v1/traffic/tracks/{id}/history) as a path, with a marker replaying them at 20x. */
  async showHistory(id) {
    const since = new Date(Date.now() - HISTORY_MS).toISOString();
    const q = new URLSearchParams({ start: since, limit: "5000" });
    let r;
    try {
      r = await api(`/v1/traffic/tracks/${encodeURIComponent(id)}/history?${q}`);
    } catch (err) {
      this.ui.message(t("err.http", { status: err.status, detail: err.detail }));
      return;
    }
    const pts = r.reports
      .filter((x) => x.lat_deg != null && x.lon_deg != null)
      .map((x) => ({ t: Date.parse(x.time_utc), ll: [x.lon_deg, x.lat_deg], alt: x.alt_m }));
    if (!pts.length) return;
    this.history = { id, pts, start: performance.now() };
    document.getElementById("history").hidden = false;
    this.playHistory();
  }

  playHistory() {
    const h = this.history;
    if (!h || !this.map.getSource("history")) return;
    const t0 = h.pts[0].t;
    const span = Math.max(h.pts[h.pts.length - 1].t - t0, 1);
    const tNow = t0 + (((performance.now() - h.start) * HISTORY_SPEED) % (span + 5000));
    let k = 0;
    while (k + 1 < h.pts.length && h.pts[k + 1].t <= tNow) k++;
    const p = h.pts[k];
    this.map.getSource("history").setData({
      type: "FeatureCollection",
      features: [
        { type: "Feature", geometry: { type: "LineString", coordinates: h.pts.map((q) => q.ll) }, properties: {} },
        { type: "Feature", geometry: { type: "Point", coordinates: p.ll }, properties: {} },
      ],
    });
    document.getElementById("history-info").textContent = t("history.info", {
      id: h.id,
      n: h.pts.length,
      time: new Date(p.t).toISOString().slice(11, 19) + "Z",
      alt: p.alt == null ? "—" : Math.round(p.alt),
    });
  }

  stopHistory() {
    this.history = null;
    document.getElementById("history").hidden = true;
    this.map.getSource("history").setData({ type: "FeatureCollection", features: [] });
  }

  relabel() {
    this.renderAlerts();
    this.dirty = true;
    this.flush();
  }
}

function trackLabel(id, x) {
  const name = id.includes(":") ? id.slice(id.indexOf(":") + 1) : id;
  const alt = x.alt_m == null ? "—" : `${Math.round(x.alt_m)}m`;
  const spd = x.speed_m_s == null ? "—" : `${x.speed_m_s.toFixed(0)}m/s`;
  return `${name} ${alt} ${spd}`;
}

function band(p) {
  const lo = p.floor_m ?? 0;
  const hi = p.ceiling_m == null ? "∞" : p.ceiling_m;
  return `${lo}–${hi} m ${(p.alt_ref || "").toUpperCase()}`;
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toISOString().slice(11, 19) + "Z";
}

/** A zone as a polygon feature; a circle zone (Point + radius_m) becomes a 64-gon. */
function zoneFeature(f) {
  const p = f.properties || {};
  let g = f.geometry;
  if (g.type === "Point" && p.radius_m) {
    const [lon, lat] = g.coordinates;
    const ring = [];
    const dLat = p.radius_m / 111_320;
    const dLon = dLat / Math.cos((lat * Math.PI) / 180);
    for (let i = 0; i <= 64; i++) {
      const a = (i / 64) * 2 * Math.PI;
      ring.push([lon + dLon * Math.cos(a), lat + dLat * Math.sin(a)]);
    }
    g = { type: "Polygon", coordinates: [ring] };
  }
  return { type: "Feature", geometry: g, properties: { id: f.id ?? p.id, kind: p.kind } };
}

function centre(g) {
  if (!g) return null;
  if (g.type === "Point") return g.coordinates;
  const ring = g.type === "Polygon" ? g.coordinates[0] : g.type === "MultiPolygon" ? g.coordinates[0][0] : null;
  if (!ring) return null;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of ring) {
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
  }
  return [(x0 + x1) / 2, (y0 + y1) / 2];
}
