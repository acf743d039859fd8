// Bundles berth's command line into dist/berth/ with esbuild, for a fast
// start (figures in bench/README.md, "berth's start"):
//
// - berth.script.js: everything `berth` runs, @grpc/grpc-js included, as ONE
//   function expression `(function (module, require, __berthScriptUrl)
//   {…})` in CommonJS form. Lazily imported modules (the commands, the client
//   library, grpc-js) stay in the file but run only when first used.
// - berth.cache, berth-local.cache, berth-ps.cache: V8's code caches of that
//   script, made by scripts/cli-code-cache.mjs after a warm-up run of the
//   common commands, so that bin/berth compiles (almost) nothing. Node 20 has
//   no code cache for ES modules or require(); vm.Script with cachedData is
//   the one there is. berth makes its other commands' caches itself
//   (scripts/berth-start.cjs).
// - berth.id: a hash of the script, which names the caches berth makes.
//
// - berth.js: the start (scripts/berth-start.cjs), which bin/berth requires:
//   compiles the script with the cache (V8 checks it against the source and
//   node's V8 version and falls back to compiling when it does not match)
//   and calls its `main`.
// tsc still compiles src/cli to dist/cli (the
// tests and `node dist/cli/berth.js` use that).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleScript, root } from './bundle-script.mjs';

const outdir = join(root, 'dist/berth');

const GRPC_LOAD = "createRequire(import.meta.url)('@grpc/grpc-js')";
const GRPC_LOADERS = /[/\\]src[/\\](client[/\\]client|api[/\\]grpc-js-client)\.ts$/;

rmSync(outdir, { recursive: true, force: true });
await bundleScript({
  entry: 'src/cli/main.ts',
  outfile: join(outdir, 'berth.script.js'),
  distPrefix: '../',
  banner:
    '// berth: not a module. berth.js compiles this function with its code cache (scripts/bundle-cli.mjs).',
  // Native modules and what berth never loads in the CLI stay outside.
  external: ['koffi', 'better-sqlite3', 'pino', 'pino-pretty'],
  // The client library loads @grpc/grpc-js with createRequire(import.meta.url)
  // on first use (berthd imports the generated service files and must not pay
  // for grpc-js). esbuild cannot follow that call; here it becomes a plain
  // require(), which esbuild bundles and still runs only when reached.
  rewrite: (path, text) => {
    if (!GRPC_LOADERS.test(path)) return text;
    const n = text.split(GRPC_LOAD).length - 1;
    if (n !== 1) throw new Error(`${path}: expected one ${GRPC_LOAD}, found ${n}`);
    return text.replace(GRPC_LOAD, "require('@grpc/grpc-js')");
  },
});
// The start: CommonJS in a "type": "module" package.
copyFileSync(join(root, 'scripts/berth-start.cjs'), join(outdir, 'berth.js'));
// The format of berth's own code caches, which the start reads and writes.
copyFileSync(join(root, 'scripts/code-cache-file.cjs'), join(outdir, 'code-cache-file.cjs'));
writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
const script = readFileSync(join(outdir, 'berth.script.js'));
writeFileSync(
  join(outdir, 'berth.id'),
  `${createHash('sha256').update(script).digest('hex').slice(0, 16)}\n`,
);
for (const kind of ['local', 'ps', 'daemon']) {
  execFileSync(process.execPath, [join(root, 'scripts/cli-code-cache.mjs'), kind], {
    stdio: 'inherit',
  });
}
