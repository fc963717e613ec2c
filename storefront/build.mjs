// Builds dist/: index.html, plus one JS bundle and one CSS file whose names carry a hash of
// their content (dist/assets/app-<hash>.js|css). The gateway can therefore cache
// /assets/* for a year as immutable and serve index.html with no-cache.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: "src/main.ts" },
  bundle: true,
  format: "esm",
  target: ["es2022", "chrome111", "firefox113", "safari16.4"],
  minify: true,
  legalComments: "none",
  outdir: dist,
  entryNames: "assets/[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});

// The entry's output and the CSS esbuild split out of it (main.ts imports style.css).
const [jsPath, js] = Object.entries(result.metafile.outputs).find(([, output]) => output.entryPoint) ?? [];
if (!jsPath || !js?.cssBundle) throw new Error("esbuild produced no JS bundle with its CSS");
const url = (path) => "/" + relative(dist, join(root, path)).split("\\").join("/");

const template = await readFile(join(root, "src/index.html"), "utf8");
const html = template.replace("__APP_JS__", url(jsPath)).replace("__APP_CSS__", url(js.cssBundle));
if (html.includes("__APP_")) throw new Error("index.html still has a placeholder");
await writeFile(join(dist, "index.html"), html);

for (const [path, output] of Object.entries(result.metafile.outputs)) {
  console.log(`${url(path).padEnd(32)} ${(output.bytes / 1024).toFixed(1)} KiB`);
}
console.log(`${"/index.html".padEnd(32)} ${(Buffer.byteLength(html) / 1024).toFixed(1)} KiB`);
