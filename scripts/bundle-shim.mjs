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
//   bin/containerd-shim-berth-v1 runs: compiles the script with the cache.
//
// tsc still compiles src/shim to dist/shim (the tests use that).
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const NAME = 'containerd-shim-berth-v1';
const file = join(dist, `${NAME}.script.js`);
const cache = join(dist, `${NAME}.cache`);

// import.meta.url becomes the URL of the module's tsc output (src/x/y.ts: dist/x/y.js),
// relative to the script's own URL: what a module finds from it (koffi, through
// createRequire in src/sys/linux.ts) is found the same in both builds.
const sources = {
  name: 'berth-sources',
  setup(b) {
    b.onLoad({ filter: /[/\\]src[/\\].*\.ts$/ }, (args) => {
      let text = readFileSync(args.path, 'utf8');
      if (text.includes('import.meta')) {
        if (/import\.meta(?!\.url)/.test(text)) {
          throw new Error(`${args.path}: only import.meta.url is provided in the script`);
        }
        const twin = relative(join(root, 'src'), args.path).replace(/\.ts$/, '.js');
        const url = `new URL(${JSON.stringify(`./${twin.split(sep).join('/')}`)}, __berthScriptUrl).href`;
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

for (const f of [file, cache]) rmSync(f, { force: true });
const result = await build({
  entryPoints: [join(root, 'src/shim/main.ts')],
  outfile: file,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  banner: {
    js: `// ${NAME}: not a module. ${NAME}.cjs compiles this function with its code cache (scripts/bundle-shim.mjs).\n(function (module, require, __berthScriptUrl) {`,
  },
  footer: { js: '})' },
  define: { 'import.meta.url': '__berthScriptUrl' },
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: false,
  legalComments: 'none',
  // Native modules, and what the shim never loads, stay outside.
  external: ['koffi', 'better-sqlite3', 'pino', 'pino-pretty', '@grpc/grpc-js'],
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
// The start reads the script as latin1, which is right for ASCII only.
const text = readFileSync(file, 'utf8');
if (/[\u{10000}-\u{10ffff}]/u.test(text)) throw new Error(`${file}: a character beyond U+FFFF`);
writeFileSync(
  file,
  text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
);
copyFileSync(join(root, 'scripts/shim-start.cjs'), join(dist, `${NAME}.cjs`));
// The code cache, made by the wrapper itself: its node flags are the ones V8 checks.
execFileSync(join(root, 'bin', NAME), ['-v'], {
  env: { ...process.env, BERTH_SHIM_WRITE_CODE_CACHE: cache },
  stdio: ['ignore', 'ignore', 'inherit'],
});
