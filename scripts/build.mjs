// Bundles the CLI into dist/milec.mjs so `milec` starts without compiling TypeScript on the
// fly (tsx's loader costs ~0.5 s per start). bin/milec.js uses the bundle only while it is
// newer than every source file, so editing the sources never runs stale code.
import { build } from 'esbuild';

await build({
  entryPoints: ['cli/milec.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: 'dist/milec.mjs',
  // Native (webgpu), large and lazily loaded (ts-morph, typescript; tsx, for --plugin files), or loaded from its own
  // single-file bundle at run time (chevrotain): resolved from node_modules instead.
  external: ['webgpu', 'ts-morph', 'typescript', 'chevrotain', 'tsx', '@hpcc-js/wasm-graphviz'],
  // CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __milecRequire } from 'node:module'; const require = __milecRequire(import.meta.url);" },
  logLevel: 'warning',
});
