import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

/**
 * `berth/client` imports nothing of the daemon: walking every import
 * reachable from the client's entry point (static and dynamic, relative
 * files and packages) finds no daemon folder and no daemon-only package.
 * What it finds is printed by the assertion, so a new dependency shows.
 */
const SRC = resolve(import.meta.dirname, '..');
const ENTRY = join(SRC, 'client/index.ts');

/** Folders of src/ that are the daemon's alone. */
const DAEMON_FOLDERS = [
  'content',
  'daemon',
  'diff',
  'events',
  'metadata',
  'plugin',
  'runtime',
  'server',
  'services',
  'snapshots',
  'sys',
  'transfer',
  'ttrpc',
];
/**
 * Packages the client may load: gRPC and protobuf, and the TOML parser of
 * the registry client's hosts.toml. Anything else is a failure to look at.
 */
const ALLOWED_PACKAGES = ['@bufbuild/protobuf', '@grpc/grpc-js', 'smol-toml'];
const DAEMON_PACKAGES = ['better-sqlite3', 'koffi', 'pino', 'pino-pretty'];

/**
 * Static imports and re-exports (at the start of a line, possibly spanning
 * lines), side-effect imports, dynamic imports, and require() as plain or
 * through createRequire (how the generated code loads grpc-js).
 */
const IMPORT =
  /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bcreateRequire\([^)]*\)\(\s*['"]([^'"]+)['"]\s*\)/gm;

function walk(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5] ?? '';
      if (spec.startsWith('.')) {
        const ts = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        assert.ok(existsSync(ts), `${relative(SRC, file)} imports ${spec}: no ${ts}`);
        queue.push(ts);
      } else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) {
        const parts = spec.split('/');
        packages.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec));
      }
    }
  }
  return { files, packages };
}

describe('berth/client import graph', () => {
  const { files, packages } = walk(ENTRY);

  it('reaches no daemon module', () => {
    const daemon = [...files]
      .map((f) => relative(SRC, f))
      .filter((f) => DAEMON_FOLDERS.includes(f.split('/')[0] ?? ''));
    assert.deepEqual(daemon, []);
  });

  it('loads only the gRPC, protobuf and TOML packages (no better-sqlite3, pino or koffi)', () => {
    const found = [...packages].sort();
    assert.deepEqual(
      found.filter((p) => !ALLOWED_PACKAGES.includes(p)),
      [],
      `packages: ${found.join(' ')}`,
    );
    for (const p of DAEMON_PACKAGES) assert.ok(!packages.has(p), p);
    assert.ok(packages.has('@grpc/grpc-js'), `packages: ${found.join(' ')}`);
  });

  it('is a graph of some size (the walk follows imports)', () => {
    assert.ok(files.size > 20, `only ${files.size} files reached`);
    assert.ok(
      [...files].some((f) => f.endsWith('api/containerd/services/tasks/v1/tasks.ts')),
      'tasks service not reached',
    );
  });
});
