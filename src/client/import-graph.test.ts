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
/** Packages the client may load; anything else is a failure to look at. */
const ALLOWED_PACKAGES = ['@bufbuild/protobuf', '@grpc/grpc-js'];

const IMPORT =
  /(?:^|[\s;])(?:import|export)(?:[\s\w{},*]*?from)?\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;

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
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
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

  it('loads only the gRPC and protobuf runtimes (no better-sqlite3, pino or koffi)', () => {
    assert.deepEqual([...packages].sort(), ALLOWED_PACKAGES);
    for (const p of ['better-sqlite3', 'pino', 'koffi']) assert.ok(!packages.has(p), p);
  });

  it('is a graph of some size (the walk follows imports)', () => {
    assert.ok(files.size > 20, `only ${files.size} files reached`);
    assert.ok(
      [...files].some((f) => f.endsWith('api/containerd/services/tasks/v1/tasks.ts')),
      'tasks service not reached',
    );
  });
});
