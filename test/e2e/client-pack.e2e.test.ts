/**
 * `berth/client` as a user gets it: `npm pack` of the built repository,
 * unpacked into a project's node_modules (its dependencies linked from this
 * repository's, as an offline install would resolve them), then imported
 * from plain JavaScript, with no compile step, and used against berthd.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Berthd, REPO } from '../helpers/berthd.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;

describe('berth/client from an npm pack', { skip: !root && 'needs root' }, () => {
  let work: TempDir;
  let d: Berthd;
  let project: string;

  before(async () => {
    work = tempDir();
    d = await Berthd.start();
    const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', work.path], {
      cwd: REPO,
      encoding: 'utf8',
    });
    const tarball = join(work.path, out.trim().split('\n').at(-1) ?? '');
    project = join(work.path, 'project');
    const pkg = join(project, 'node_modules', 'berth');
    mkdirSync(pkg, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', pkg, '--strip-components=1']);
    symlinkSync(join(REPO, 'node_modules'), join(pkg, 'node_modules'));
    writeFileSync(join(project, 'package.json'), '{ "type": "module", "private": true }\n');
  });
  after(async () => {
    await d?.cleanup();
    work?.remove();
  });

  it('ships the compiled client with its types, not the sources', () => {
    const pkg = join(project, 'node_modules', 'berth');
    assert.ok(existsSync(join(pkg, 'dist/client/index.js')));
    assert.ok(existsSync(join(pkg, 'dist/client/index.d.ts')));
    assert.ok(!existsSync(join(pkg, 'src')), readdirSync(pkg).join(' '));
  });

  it('imports from plain JavaScript and talks to berthd', () => {
    const main = join(project, 'main.mjs');
    writeFileSync(
      main,
      `import { createRequire } from 'node:module';
import { Client, cio, isNotFound, withSpec } from 'berth/client';
const client = new Client(process.argv[2], { namespace: 'pack' });
const serving = await client.isServing();
const missing = await client.getImage('example.com/none:1').then(() => false, (e) => isNotFound(e));
const version = (await client.version()).version;
client.close();
// CommonJS packages loaded so far (grpc-js is one): none of the daemon's.
const loaded = Object.keys(createRequire(import.meta.url).cache);
const daemon = loaded.filter((f) => /node_modules[/](better-sqlite3|pino|koffi)[/]/.test(f));
const grpc = loaded.some((f) => f.includes('@grpc/grpc-js'));
console.log(JSON.stringify({ serving, missing, version: typeof version, cio: typeof cio.withStdio, withSpec: typeof withSpec, daemon, grpc }));
`,
    );
    const out = execFileSync('node', [main, d.socket], { cwd: project, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), {
      serving: true,
      missing: true,
      version: 'string',
      cio: 'function',
      withSpec: 'function',
      daemon: [],
      grpc: true,
    });
  });

  it('exposes only the client: the daemon is not importable by name', () => {
    const main = join(project, 'daemon.mjs');
    writeFileSync(main, `await import('berth/dist/daemon/main.js');\n`);
    assert.throws(
      () => execFileSync('node', [main], { cwd: project, encoding: 'utf8', stdio: 'pipe' }),
      /ERR_PACKAGE_PATH_NOT_EXPORTED/,
    );
  });
});
