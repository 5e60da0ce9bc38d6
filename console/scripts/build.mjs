// Build the console into ../src/kongtian/console/static/ (committed, so that a Python-only
// install needs no npm). Everything the page loads at run time is written here: nothing
// is fetched from the network when the console runs.
//
//   npm ci && npm run build
//
// 1. MapLibre GL JS is copied as shipped (ES module + its worker module, which it loads
//    from next to itself via import.meta.url) into static/vendor/.
// 2. The offline basemap: Natural Earth land and country borders (world-atlas TopoJSON,
//    public domain) converted to GeoJSON with topojson-client, plus Chongqing's boundary
//    from the Python package (src/kongtian/geo/data/chongqing.geojson).
// 3. The app (src/*.js) is bundled by esbuild into static/app.js; maplibre stays external.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { feature, mesh } from "topojson-client";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const repo = resolve(root, "..");
const out = join(repo, "src", "kongtian", "console", "static");
const mod = (p) => join(root, "node_modules", p);

rmSync(join(out, "vendor"), { recursive: true, force: true });
rmSync(join(out, "data"), { recursive: true, force: true });
mkdirSync(join(out, "vendor"), { recursive: true });
mkdirSync(join(out, "data"), { recursive: true });

for (const f of ["maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl.css"]) {
  // Source maps are not shipped: drop the comment pointing at them.
  const text = readFileSync(mod(`maplibre-gl/dist/${f}`), "utf8");
  writeFileSync(join(out, "vendor", f), text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n"));
}
copyFileSync(mod("maplibre-gl/LICENSE.txt"), join(out, "vendor", "maplibre-gl.LICENSE.txt"));

// Round coordinates to 1e-4 degrees (~10 m): plenty for a 1:50m basemap, halves the size.
const round = (k, v) => (typeof v === "number" ? Math.round(v * 1e4) / 1e4 : v);
const land = JSON.parse(readFileSync(mod("world-atlas/land-50m.json"), "utf8"));
writeFileSync(join(out, "data", "land.geojson"), JSON.stringify(feature(land, land.objects.land), round));
const countries = JSON.parse(readFileSync(mod("world-atlas/countries-50m.json"), "utf8"));
const borders = mesh(countries, countries.objects.countries, (a, b) => a !== b);
writeFileSync(
  join(out, "data", "borders.geojson"),
  JSON.stringify({ type: "Feature", properties: {}, geometry: borders }, round),
);
copyFileSync(
  join(repo, "src", "kongtian", "geo", "data", "chongqing.geojson"),
  join(out, "data", "chongqing.geojson"),
);

await build({
  entryPoints: [join(root, "src", "main.js")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  external: ["./vendor/maplibre-gl.mjs"],
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
copyFileSync(join(root, "src", "index.html"), join(out, "index.html"));
copyFileSync(join(root, "src", "style.css"), join(out, "style.css"));
console.log(`console built into ${out}`);
