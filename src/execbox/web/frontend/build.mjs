// Bundles the editor page's script into ../static/js/ (minified ES modules, no CDN):
// editor.js plus one chunk per language grammar, loaded on first use.
// Usage: npm ci && npm run build      (Node.js is needed to build, never to serve)
import { build } from "esbuild";
import { readFile, readdir, rm, writeFile } from "node:fs/promises";
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
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});

for (const [file, output] of Object.entries(result.metafile.outputs)) {
  console.log(`${path.basename(file).padEnd(24)} ${(output.bytes / 1024).toFixed(0).padStart(4)} KiB`);
}

// The bundled packages' licences, next to the bundle they ship in.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (match) packages.add(match[1]);
}
const notices = [];
for (const name of [...packages].sort()) {
  const dir = path.join(here, "node_modules", name);
  const meta = JSON.parse(await readFile(path.join(dir, "package.json"), "utf8"));
  const licenceFile = (await readdir(dir)).find((f) => /^licen[cs]e/i.test(f));
  const text = licenceFile ? await readFile(path.join(dir, licenceFile), "utf8") : meta.license;
  notices.push(`${meta.name} ${meta.version} (${meta.license})\n\n${text.trim()}\n`);
}
await writeFile(path.join(outdir, "THIRD_PARTY_LICENSES.txt"), notices.join("\n" + "-".repeat(72) + "\n\n"));
