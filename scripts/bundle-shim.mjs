// Bundles berth's shim (src/shim/main.ts, runtime io.containerd.berth.v1) into dist/ with
// esbuild, as scripts/bundle-cli.mjs does the CLI, for a fast start (containerd runs the
// binary for every shim `start` and `delete`) and one file to map instead of a hundred:
//
// - containerd-shim-berth-v1.script.js: the shim as ONE function expression
//   `(function (module, require, __berthScriptUrl) {…})` in CommonJS form; the
//   modes' modules (start, delete, serve) stay in the file but run only when used.
// - containerd-shim-berth-v1.cache: V8's code cache of that script, made by running
//   `bin/containerd-shim-berth-v1 -v` (so with the wrapper's node flags, which V8
//   checks the cache against).
// - containerd-shim-berth-v1.cjs: the start (scripts/shim-start.cjs), which
//   bin/containerd-shim-berth-v1 runs: compiles the script with the cache, or with the
//   trained cache a daemon wrote there after its first container (containerd-shim-berth-v1
//   .trained-<size>-<mtime>.cache; this build removes those of earlier builds).
//
// tsc still compiles src/shim to dist/shim (the tests use that).
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bundleScript, root } from './bundle-script.mjs';

const dist = join(root, 'dist');
const NAME = 'containerd-shim-berth-v1';
const file = join(dist, `${NAME}.script.js`);
const cache = join(dist, `${NAME}.cache`);

for (const f of [file, cache]) rmSync(f, { force: true });
// Trained caches of earlier builds (scripts/shim-start.cjs writes them at run time).
for (const f of readdirSync(dist)) {
  if (f.startsWith(`${NAME}.trained-`)) rmSync(join(dist, f), { force: true });
}
await bundleScript({
  entry: 'src/shim/main.ts',
  outfile: file,
  distPrefix: './',
  banner: `// ${NAME}: not a module. ${NAME}.cjs compiles this function with its code cache (scripts/bundle-shim.mjs).`,
  // Native modules, and what the shim never loads, stay outside.
  external: ['koffi', 'better-sqlite3', 'pino', 'pino-pretty', '@grpc/grpc-js'],
});
copyFileSync(join(root, 'scripts/shim-start.cjs'), join(dist, `${NAME}.cjs`));
// The format of the code cache files (a CRC-32 before V8's data), the start's and the CLI's.
copyFileSync(join(root, 'scripts/code-cache-file.cjs'), join(dist, 'code-cache-file.cjs'));
// The code cache, made by the wrapper itself: its node flags are the ones V8 checks.
execFileSync(join(root, 'bin', NAME), ['-v'], {
  env: { ...process.env, BERTH_SHIM_WRITE_CODE_CACHE: cache },
  stdio: ['ignore', 'ignore', 'inherit'],
});
