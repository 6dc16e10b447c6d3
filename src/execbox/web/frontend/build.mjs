// Bundles the editor page's script into ../static/js/ (minified ES modules, no CDN):
// editor.js plus one chunk per language grammar, loaded on first use.
// Usage: npm ci && npm run build      (Node.js is needed to build, never to serve)
import { build } from "esbuild";
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, "..", "static", "js");

await rm(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: { editor: path.join(here, "src", "main.js") },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  chunkNames: "chunk-[hash]",
  minify: true,
  target: ["es2020"],
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});

for (const [file, output] of Object.entries(result.metafile.outputs)) {
  console.log(`${path.basename(file).padEnd(24)} ${(output.bytes / 1024).toFixed(0).padStart(4)} KiB`);
}
