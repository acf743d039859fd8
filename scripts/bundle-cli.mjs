// Bundles berth's command line into dist/berth/ with esbuild, for a fast
// start (figures in bench/README.md, "berth's start"):
//
// - berth.script.js: everything `berth` runs, @grpc/grpc-js included, as ONE
//   function expression `(function (module, require, __berthScriptUrl)
//   {…})` in CommonJS form. Lazily imported modules (the commands, the client
//   library, grpc-js) stay in the file but run only when first used.
// - berth.cache, berth-local.cache: V8's code caches of that script, made by
//   scripts/cli-code-cache.mjs after a warm-up run of the common commands, so
//   that bin/berth compiles (almost) nothing. Node 20 has no code cache for
//   ES modules or require(); vm.Script with cachedData is the one there is.
//
// - berth.js: the start (scripts/berth-start.cjs), which bin/berth requires:
//   compiles the script with the cache (V8 checks it against the source and
//   node's V8 version and falls back to compiling when it does not match)
//   and calls its `main`.
// tsc still compiles src/cli to dist/cli (the
// tests and `node dist/cli/berth.js` use that).
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist/berth');

const GRPC_LOAD = "createRequire(import.meta.url)('@grpc/grpc-js')";
const GRPC_LOADERS = /[/\\]src[/\\](client[/\\]client|api[/\\]grpc-js-client)\.ts$/;

// Two rewrites of berth's sources on their way into the script:
// - The client library loads @grpc/grpc-js with createRequire(import.meta.url)
//   on first use (berthd imports the generated service files and must not pay
//   for grpc-js). esbuild cannot follow that call; here it becomes a plain
//   require(), which esbuild bundles and still runs only when reached.
// - import.meta.url becomes the URL of the module's tsc output (src/x/y.ts:
//   dist/x/y.js), relative to the script's own URL: paths a module makes
//   from it (package.json, bin/berth-logger) are the same in both builds.
const sources = {
  name: 'berth-sources',
  setup(b) {
    b.onLoad({ filter: /[/\\]src[/\\].*\.ts$/ }, (args) => {
      let text = readFileSync(args.path, 'utf8');
      if (GRPC_LOADERS.test(args.path)) {
        const n = text.split(GRPC_LOAD).length - 1;
        if (n !== 1) throw new Error(`${args.path}: expected one ${GRPC_LOAD}, found ${n}`);
        text = text.replace(GRPC_LOAD, "require('@grpc/grpc-js')");
      }
      if (text.includes('import.meta')) {
        if (/import\.meta(?!\.url)/.test(text)) {
          throw new Error(`${args.path}: only import.meta.url is provided in the script`);
        }
        const twin = relative(join(root, 'src'), args.path).replace(/\.ts$/, '.js');
        const url = `new URL(${JSON.stringify(`../${twin.split(sep).join('/')}`)}, __berthScriptUrl).href`;
        text = text.replaceAll('import.meta.url', url);
      }
      return { contents: text, loader: 'ts' };
    });
  },
};

// `await import('node:os')` (a lazy builtin) would need an ES module loader
// in the script: here it becomes a bundled module re-exporting require()'s.
const builtinImports = {
  name: 'builtin-imports',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) =>
      args.kind === 'dynamic-import' && isBuiltin(args.path)
        ? { path: args.path, namespace: 'builtin-import' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin-import' }, (args) => ({
      contents: `export * from '${args.path}'; export { default } from '${args.path}';`,
      resolveDir: root,
    }));
  },
};

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: [join(root, 'src/cli/main.ts')],
  outfile: join(outdir, 'berth.script.js'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  banner: {
    js: '// berth: not a module. berth.js compiles this function with its code cache (scripts/bundle-cli.mjs).\n(function (module, require, __berthScriptUrl) {',
  },
  footer: { js: '})' },
  // What is not berth's own (rewritten above) sees the script's URL.
  define: { 'import.meta.url': '__berthScriptUrl' },
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: false,
  legalComments: 'none',
  // Native modules and what berth never loads in the CLI stay outside.
  external: ['koffi', 'better-sqlite3', 'pino', 'pino-pretty'],
  plugins: [sources, builtinImports],
  metafile: true,
  logLevel: 'warning',
});
// A dynamic import() left in the script would need an ES module loader that
// vm.Script does not have: every import must have been bundled.
for (const [out, o] of Object.entries(result.metafile.outputs)) {
  const left = o.imports.filter((i) => i.external && i.kind === 'dynamic-import');
  if (left.length > 0) {
    throw new Error(`${out}: import() of ${left.map((i) => i.path).join(', ')} left unbundled`);
  }
}
// berth.js reads the script as latin1 (2 ms less than utf8 for a script V8
// then holds as one byte per character), which is right for ASCII only.
// esbuild escapes non-ASCII characters except in regular expression
// literals; \uXXXX means the same there, in strings and in identifiers.
const file = join(outdir, 'berth.script.js');
const text = readFileSync(file, 'utf8');
if (/[\u{10000}-\u{10ffff}]/u.test(text)) throw new Error(`${file}: a character beyond U+FFFF`);
writeFileSync(
  file,
  text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
);
// The start: CommonJS in a "type": "module" package.
copyFileSync(join(root, 'scripts/berth-start.cjs'), join(outdir, 'berth.js'));
writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
for (const kind of ['local', 'daemon']) {
  execFileSync(process.execPath, [join(root, 'scripts/cli-code-cache.mjs'), kind], {
    stdio: 'inherit',
  });
}
