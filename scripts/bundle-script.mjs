// What scripts/bundle-cli.mjs (berth) and scripts/bundle-shim.mjs
// (containerd-shim-berth-v1) share: one entry bundled by esbuild into ONE
// function expression `(function (module, require, __berthScriptUrl) {…})` in
// CommonJS form, which a small start compiles with vm.Script and a V8 code
// cache (node 20 has no code cache for ES modules or require()).
import { readFileSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Bundles `entry` (a path under src/) into `outfile`.
 * - `distPrefix`: the way from the script's directory to dist/ ('./' or '../'):
 *   import.meta.url of berth's modules becomes the URL of their tsc output
 *   (src/x/y.ts: dist/x/y.js), relative to the script's own URL, so that what
 *   a module finds from it (package.json, koffi through createRequire,
 *   bin/berth-logger) is found the same in both builds.
 * - `rewrite(path, text)`: any other change to a source on its way in.
 * - `external`: modules left to require() at run time (native ones, and what
 *   the bundle never loads).
 * - `banner`: the comment line that says what the script is.
 */
export async function bundleScript({ entry, outfile, distPrefix, banner, external, rewrite }) {
  const sources = {
    name: 'berth-sources',
    setup(b) {
      b.onLoad({ filter: /[/\\]src[/\\].*\.ts$/ }, (args) => {
        let text = readFileSync(args.path, 'utf8');
        if (rewrite) text = rewrite(args.path, text);
        if (text.includes('import.meta')) {
          if (/import\.meta(?!\.url)/.test(text)) {
            throw new Error(`${args.path}: only import.meta.url is provided in the script`);
          }
          const twin = relative(join(root, 'src'), args.path).replace(/\.ts$/, '.js');
          const url = `new URL(${JSON.stringify(`${distPrefix}${twin.split(sep).join('/')}`)}, __berthScriptUrl).href`;
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
  const result = await build({
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    banner: { js: `${banner}\n(function (module, require, __berthScriptUrl) {` },
    footer: { js: '})' },
    // What is not berth's own (rewritten above) sees the script's URL.
    define: { 'import.meta.url': '__berthScriptUrl' },
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: false,
    legalComments: 'none',
    external,
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
  // The starts read the script as latin1 (2 ms less than utf8 for a script V8
  // then holds as one byte per character), which is right for ASCII only.
  // esbuild escapes non-ASCII characters except in regular expression
  // literals; \uXXXX means the same there, in strings and in identifiers.
  const text = readFileSync(outfile, 'utf8');
  if (/[\u{10000}-\u{10ffff}]/u.test(text))
    throw new Error(`${outfile}: a character beyond U+FFFF`);
  writeFileSync(
    outfile,
    text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
}
