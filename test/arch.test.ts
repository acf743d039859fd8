import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

/** The layer rules of docs/architecture.md, checked on every import in src/. */
const ALLOWED: Record<string, readonly string[]> = {
  core: ['core'],
  metadata: ['core', 'metadata', 'sys'],
  content: ['core', 'sys', 'content'],
  sys: ['core', 'sys'],
  server: ['core', 'sys', 'server'],
  services: ['api', 'core', 'server', 'services', 'ttrpc', 'wire'],
  daemon: [
    'api',
    'content',
    'core',
    'events',
    'metadata',
    'sys',
    'server',
    'services',
    'snapshots',
    'diff',
    'ttrpc',
    'runtime',
    'daemon',
    'wire',
  ],
  runtime: ['api', 'core', 'sys', 'ttrpc', 'runtime', 'wire'],
  events: ['core', 'events'],
  archive: ['core', 'archive'],
  snapshots: ['core', 'sys', 'snapshots'],
  diff: ['core', 'archive', 'sys', 'diff'],
  client: ['api', 'core', 'client', 'wire'],
  ttrpc: ['api', 'core', 'ttrpc', 'sys'],
  api: ['api'],
  wire: ['api', 'core', 'wire'],
};
/** Packages a layer must not import, whatever the table says. */
const FORBIDDEN_PACKAGES: Record<string, readonly RegExp[]> = {
  core: [/^@grpc\//, /^better-sqlite3$/, /^pino/],
  events: [/^@grpc\//, /^@bufbuild\//, /^better-sqlite3$/],
  metadata: [/^@grpc\//],
  services: [/^better-sqlite3$/],
  ttrpc: [/^@grpc\//, /^better-sqlite3$/],
  wire: [/^@grpc\//, /^better-sqlite3$/],
};

const SRC = resolve(import.meta.dirname, '../src');

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) yield p;
  }
}

describe('architecture', () => {
  it('every import in src/ follows the layer rules', () => {
    const violations: string[] = [];
    for (const file of files(SRC)) {
      const layer = relative(SRC, file).split('/')[0] ?? '';
      const allowed = ALLOWED[layer];
      assert.ok(allowed, `no rule for layer ${layer} (${file})`);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const spec = m[1] ?? '';
        if (spec.startsWith('.')) {
          const target = relative(SRC, resolve(dirname(file), spec)).split('/')[0] ?? '';
          if (!allowed.includes(target))
            violations.push(`${relative(SRC, file)} imports ${spec} (${target})`);
        } else {
          for (const re of FORBIDDEN_PACKAGES[layer] ?? []) {
            if (re.test(spec)) violations.push(`${relative(SRC, file)} imports package ${spec}`);
          }
        }
      }
    }
    assert.deepEqual(violations, []);
  });
});
