// Kongtian console entry point: one MapLibre map (Mercator for the airspace view, globe
// for the space view) over an offline Natural Earth basemap; no tiles, no glyphs, no
// requests beyond this server.
import * as maplibregl from "./vendor/maplibre-gl.mjs";
import { Airspace } from "./airspace.js";
import { api, getKey, openStream, setKey } from "./api.js";
import { applyStatic, getLang, onLang, setLang, t } from "./i18n.js";
import { Space } from "./space.js";

const CHONGQING = [106.55, 29.56];
const AIRSPACE_ZOOM = 10.6;
const url = (p) => new URL(p, document.baseURI).href;

function baseStyle() {
  return {
    version: 8,
    projection: { type: "mercator" },
    sources: {
      land: { type: "geojson", data: url("data/land.geojson") },
      borders: { type: "geojson", data: url("data/borders.geojson") },
      chongqing: { type: "geojson", data: url("data/chongqing.geojson") },
    },
    layers: [
      { id: "ocean", type: "background", paint: { "background-color": "#0c2a44" } },
      { id: "land", type: "fill", source: "land", paint: { "fill-color": "#1f2a3c" } },
      { id: "borders", type: "line", source: "borders", paint: { "line-color": "#56657f", "line-width": 0.7 } },
      {
        id: "chongqing",
        type: "line",
        source: "chongqing",
        paint: { "line-color": "#38bdf8", "line-width": 1.5, "line-dasharray": [3, 2] },
      },
    ],
  };
}

const state = { role: "", view: "airspace", popup: null };

const ui = {
  role: () => state.role,
  message(text) {
    const el = document.getElementById("msg");
    el.hidden = !text;
    el.textContent = text || "";
  },
  popup(lngLat, title, rows, actions = []) {
    if (state.popup) state.popup.remove();
    const div = document.createElement("div");
    const h = document.createElement("strong");
    h.textContent = title;
    div.appendChild(h);
    for (const [k, v] of rows) {
      if (v == null || v === "") continue;
      const r = document.createElement("div");
      r.textContent = `${k}: ${v}`;
      div.appendChild(r);
    }
    for (const [label, fn] of actions) {
      const b = document.createElement("button");
      b.className = "popup-action";
      b.textContent = label;
      b.onclick = fn;
      div.appendChild(b);
    }
    state.popup = new maplibregl.Popup({ closeButton: true }).setLngLat(lngLat).setDOMContent(div).addTo(map);
  },
};

const map = new maplibregl.Map({
  container: "map",
  style: baseStyle(),
  center: CHONGQING,
  zoom: AIRSPACE_ZOOM,
  attributionControl: false,
  renderWorldCopies: false,
});
// Labels live inside the map container, under its controls and popups.
map.getContainer().insertBefore(document.getElementById("labels"), map.getContainer().querySelector(".maplibregl-control-container"));
map.addControl(new maplibregl.NavigationControl(), "top-left");
map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
map.addControl(new maplibregl.AttributionControl({ compact: true, customAttribution: "Natural Earth" }));

const airspace = new Airspace(map, ui);
const space = new Space(map, ui);
let stream = null;

function setConn(on) {
  const el = document.getElementById("conn");
  el.dataset.i18n = on ? "conn.on" : "conn.off";
  el.className = `conn ${on ? "on" : "off"}`;
  el.textContent = t(el.dataset.i18n);
}

function setView(v) {
  state.view = v;
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.view === v);
  document.getElementById("panel-airspace").hidden = v !== "airspace";
  airspace.setVisible(v === "airspace");
  space.setVisible(v === "space");
  if (v === "space") {
    map.setProjection({ type: "globe" });
    map.jumpTo({ center: CHONGQING, zoom: 1.6 });
  } else {
    map.setProjection({ type: "mercator" });
    map.jumpTo({ center: CHONGQING, zoom: AIRSPACE_ZOOM });
  }
  document.body.dataset.view = v;
}

async function connect() {
  if (stream) stream.close();
  stream = null;
  ui.message(null);
  if (!getKey()) {
    ui.message(t("key.missing"));
    return;
  }
  try {
    await airspace.load();
  } catch (err) {
    ui.message(err.status === 401 ? t("key.invalid") : t("err.http", { status: err.status ?? "", detail: err.detail ?? err.message }));
    return;
  }
  stream = openStream(["tracks", "alerts"], {
    onMessage: (m) => airspace.onMessage(m),
    onState: (on, data) => {
      setConn(on);
      if (on && data.role) {
        state.role = data.role;
        document.getElementById("role").textContent = data.role;
        document.body.dataset.role = data.role;
        airspace.renderAlerts(); // acknowledge buttons depend on the role
      }
    },
  });
}

map.on("load", () => {
  airspace.addLayers();
  space.addLayers();
  setView("airspace");
  connect();
  window.kt.ready = true;
});
map.on("error", (e) => console.error("map:", e.error?.message || e));

document.getElementById("key-input").value = getKey();
document.getElementById("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setKey(document.getElementById("key-input").value);
  connect();
});
for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => setView(b.dataset.view));
document.getElementById("lang").addEventListener("click", () => setLang(getLang() === "zh" ? "en" : "zh"));
onLang(() => {
  airspace.relabel();
  space.relabel();
});
applyStatic();

// For tests and the benchmark: the live objects, read-only by convention.
window.kt = { map, airspace, space, api, ready: false };
