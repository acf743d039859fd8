import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

/**
 * The layer rules of docs/architecture.md: the layers (top-level folders of
 * src/) each layer may import. A layer missing here is a violation itself.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: ['core'],
  plugin: ['core', 'plugin'],
  metadata: ['core', 'metadata', 'plugin', 'sys'],
  content: ['core', 'content', 'plugin', 'sys'],
  events: ['core', 'events', 'plugin'],
  archive: ['core', 'archive'],
  sys: ['core', 'sys'],
  snapshots: ['core', 'plugin', 'snapshots', 'sys'],
  diff: ['core', 'archive', 'diff', 'plugin', 'sys'],
  server: ['core', 'server', 'sys'],
  services: ['api', 'core', 'plugin', 'server', 'services', 'ttrpc', 'wire'],
  // The composition root: everything but the client.
  daemon: [
    'api',
    'archive',
    'cni',
    'content',
    'core',
    'cri',
    'daemon',
    'diff',
    'events',
    'images',
    'metadata',
    'plugin',
    'remotes',
    'restart',
    'runtime',
    'server',
    'services',
    'snapshots',
    'sys',
    'transfer',
    'ttrpc',
    'wire',
  ],
  client: ['api', 'archive', 'client', 'core', 'images', 'remotes', 'wire'],
  // The registry client (OCI distribution, auth, hosts.toml): node's http and tls only.
  remotes: ['core', 'remotes'],
  // Pull, push, import, export and unpack over the core contracts: runs in berthd and in the client.
  images: ['archive', 'core', 'images'],
  // The local transfer plugin: Transfer sources and destinations over images and remotes.
  transfer: ['core', 'images', 'plugin', 'remotes', 'transfer'],
  // CNI: network configs and plugin executables (libcni's part of containerd's CRI).
  cni: ['cni', 'core', 'sys'],
  // Kubernetes' CRI plugin: the CRI messages are its vocabulary, as in containerd's pkg/cri.
  cri: [
    'api',
    'archive',
    'cni',
    'core',
    'cri',
    'images',
    'plugin',
    'remotes',
    'server',
    'sys',
    'wire',
  ],
  // The restart monitor: keeps containers labelled containerd.io/restart.* running (containerd's runtime/restart/monitor).
  restart: ['core', 'plugin', 'restart'],
  // berth, the command line: on the client library; CNI and sys for its networks (OCI hooks run by runc).
  cli: ['archive', 'cli', 'client', 'cni', 'core', 'remotes', 'sys'],
  ttrpc: ['api', 'core', 'sys', 'ttrpc'],
  // The daemon's runtime v2 imports shim/group.ts only: the group address of berth's shim.
  runtime: ['api', 'core', 'plugin', 'runtime', 'shim', 'sys', 'ttrpc', 'wire'],
  // containerd-shim-berth-v1: berth's grouped shim process (task v2 over ttrpc, driving runc).
  shim: ['api', 'core', 'shim', 'sys', 'ttrpc', 'wire'],
  wire: ['api', 'core', 'wire'],
  api: ['api'],
};

/** Packages a layer must not import, whatever the table says. */
const FORBIDDEN_PACKAGES: Readonly<Record<string, readonly RegExp[]>> = {
  core: [/^@grpc\//, /^better-sqlite3$/, /^pino/],
  plugin: [/^@grpc\//, /^@bufbuild\//, /^better-sqlite3$/],
  events: [/^@grpc\//, /^@bufbuild\//, /^better-sqlite3$/],
  metadata: [/^@grpc\//],
  services: [/^better-sqlite3$/],
  ttrpc: [/^@grpc\//, /^better-sqlite3$/],
  wire: [/^@grpc\//, /^better-sqlite3$/],
  client: [/^better-sqlite3$/, /^pino/, /^koffi$/],
  remotes: [/^@grpc\//, /^@bufbuild\//, /^better-sqlite3$/, /^pino/],
  images: [/^@grpc\//, /^@bufbuild\//, /^better-sqlite3$/, /^pino/],
  transfer: [/^@grpc\//, /^better-sqlite3$/],
  cni: [/^@grpc\//, /^@bufbuild\//, /^better-sqlite3$/, /^pino/],
  cri: [/^better-sqlite3$/],
  cli: [/^better-sqlite3$/, /^pino/],
};

interface Rules {
  allowed: Readonly<Record<string, readonly string[]>>;
  forbiddenPackages: Readonly<Record<string, readonly RegExp[]>>;
}

/** One broken rule: the file, what it imports, and the rule (from-layer → to-layer). */
interface Violation {
  file: string;
  /** The import specifier; empty when the file's layer has no rule. */
  spec: string;
  from: string;
  /** The layer or package imported; empty when the file's layer has no rule. */
  to: string;
  message: string;
}

const IMPORT = /(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g;

/**
 * Checks every import of `files` (paths relative to src/, `/`-separated,
 * mapped to their text) against `rules`. A file's layer is its first path
 * segment; a relative import's layer is the first segment of where it
 * resolves (`..` when it leaves src/).
 */
function checkLayers(files: ReadonlyMap<string, string>, rules: Rules): Violation[] {
  const violations: Violation[] = [];
  for (const [file, text] of files) {
    const from = file.split('/')[0] ?? '';
    const allowed = rules.allowed[from];
    if (!allowed) {
      const message = `${file}: layer ${from} has no rule in the table`;
      violations.push({ file, spec: '', from, to: '', message });
      continue;
    }
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? '';
      if (spec.startsWith('.')) {
        const target = posix.normalize(posix.join(posix.dirname(file), spec));
        const to = target.startsWith('../') ? '..' : (target.split('/')[0] ?? '');
        if (!allowed.includes(to)) {
          const message = `${file} imports ${spec}: ${from} may not import ${to}`;
          violations.push({ file, spec, from, to, message });
        }
      } else if (rules.forbiddenPackages[from]?.some((re) => re.test(spec))) {
        const message = `${file} imports package ${spec}: ${from} may not import ${spec}`;
        violations.push({ file, spec, from, to: spec, message });
      }
    }
  }
  return violations;
}

const SRC = resolve(import.meta.dirname, '../src');

/** The non-test sources under `dir`, by path relative to it. */
function sources(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        out.set(relative(dir, p).split('\\').join('/'), readFileSync(p, 'utf8'));
      }
    }
  };
  walk(dir);
  return out;
}

/** The ✓ cells of docs/architecture.md's dependency table, as layer → layers. */
function documentedRules(markdown: string): Record<string, string[]> {
  const rows = markdown
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  const header = rows.find((r) => r[0]?.startsWith('from'));
  assert.ok(header, 'docs/architecture.md has no dependency table');
  const out: Record<string, string[]> = {};
  for (const row of rows.slice(rows.indexOf(header) + 2)) {
    if (row.length !== header.length) break;
    const [layer = '', ...cells] = row;
    out[layer] = header.slice(1).filter((_, i) => cells[i] === '✓');
  }
  return out;
}

const RULES: Rules = { allowed: ALLOWED, forbiddenPackages: FORBIDDEN_PACKAGES };

describe('architecture', () => {
  it('every import in src/ follows the layer rules', () => {
    assert.deepEqual(
      checkLayers(sources(SRC), RULES).map((v) => v.message),
      [],
    );
  });

  it('the table in docs/architecture.md says what the rules say', () => {
    const doc = documentedRules(
      readFileSync(resolve(import.meta.dirname, '../docs/architecture.md'), 'utf8'),
    );
    const sorted = (r: Readonly<Record<string, readonly string[]>>) =>
      Object.fromEntries(
        Object.entries(r)
          .filter(([layer]) => layer !== 'api')
          .map(([layer, to]) => [layer, [...to].sort()])
          .sort(([a], [b]) => String(a).localeCompare(String(b))),
      );
    assert.deepEqual(sorted(doc), sorted(ALLOWED));
  });
});

describe('architecture check', () => {
  it('reports a forbidden import with the file and the rule', () => {
    const violations = checkLayers(
      new Map([
        ['core/x.ts', "import { MetadataDB } from '../metadata/db.js';\n"],
        ['core/y.ts', "import type { Logger } from './log/index.js';\n"],
      ]),
      RULES,
    );
    assert.deepEqual(violations, [
      {
        file: 'core/x.ts',
        spec: '../metadata/db.js',
        from: 'core',
        to: 'metadata',
        message: 'core/x.ts imports ../metadata/db.js: core may not import metadata',
      },
    ]);
  });

  it('resolves imports from nested folders, dynamic imports, re-exports and imports out of src/', () => {
    const violations = checkLayers(
      new Map([
        ['services/tasks/plugin.ts', "import { PluginType } from '../../plugin/index.js';\n"],
        ['services/tasks/service.ts', "const m = await import('../../metadata/db.js');\n"],
        ['wire/index.ts', "export * from '../services/timestamp.js';\n"],
        ['daemon/main.ts', "import { tempDir } from '../../test/helpers/tmp.js';\n"],
      ]),
      RULES,
    );
    assert.deepEqual(
      violations.map((v) => [v.file, v.from, v.to]),
      [
        ['services/tasks/service.ts', 'services', 'metadata'],
        ['wire/index.ts', 'wire', 'services'],
        ['daemon/main.ts', 'daemon', '..'],
      ],
    );
  });

  it('reports a forbidden package', () => {
    const violations = checkLayers(new Map([['core/log.ts', "import pino from 'pino';\n"]]), RULES);
    assert.deepEqual(
      violations.map((v) => v.message),
      ['core/log.ts imports package pino: core may not import pino'],
    );
  });

  it('fails a file whose layer has no rule', () => {
    const violations = checkLayers(
      new Map([['registry/client.ts', "import { x } from '../core/x.js';\n"]]),
      RULES,
    );
    assert.deepEqual(
      violations.map((v) => v.message),
      ['registry/client.ts: layer registry has no rule in the table'],
    );
  });
});
