// Bundles berth's command line into dist/berth/ with esbuild: one entry file
// with what every command needs, and one chunk per lazily imported module, so
// `berth version` reads a few kB and `berth ps` does not parse the image or
// network code. Node resolves what stays external (@grpc/grpc-js, native
// modules) from node_modules as usual. tsc still compiles src/cli to
// dist/cli (the tests and the library use that); bin/berth runs the bundle.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist/berth');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { berth: join(root, 'src/cli/berth.ts') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Chunks next to the entry: modules locate package.json as ../../ from themselves.
  chunkNames: '[name]-[hash]',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: false,
  legalComments: 'none',
  external: ['@grpc/grpc-js', 'koffi', 'better-sqlite3', 'pino', 'pino-pretty'],
  logLevel: 'warning',
});
