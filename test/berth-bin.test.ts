/**
 * bin/berth as installed (needs `npm run build`): it runs dist/berth/berth.js,
 * which runs the bundle dist/berth/berth.script.js with its V8 code cache
 * (scripts/bundle-cli.mjs).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { REPO } from './helpers/berthd.js';
import { tempDir } from './helpers/tmp.js';

const BIN = join(REPO, 'bin/berth');
const START = join(REPO, 'dist/berth/berth.js');

interface Loader {
  CACHES: { daemon: string; local: string; ps: string };
}

describe('bin/berth', () => {
  const work = tempDir('berth-bin-');
  after(() => work.remove());

  it('runs the bundle: version --client prints package.json version, no daemon needed', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const out = execFileSync(BIN, ['version', '--client', '--format', 'json'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    const v = JSON.parse(out) as {
      Client: { Version: string; NodeVersion: string };
      Server?: unknown;
    };
    assert.equal(v.Client.Version, pkg.version);
    assert.equal(v.Client.NodeVersion, process.version);
    assert.equal(v.Server, undefined);
  });

  it('exits with main’s code and one error line', () => {
    const r = spawnSync(BIN, ['no-such-command'], { encoding: 'utf8' });
    assert.equal(r.status, 125);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^berth: 'no-such-command' is not a berth command/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  it('runs as `node dist/berth/berth.js`, the argv berth gives itself (OCI hooks)', () => {
    const out = execFileSync(process.execPath, [START, 'version', '--client', '--format', 'json'], {
      encoding: 'utf8',
    });
    assert.match(out, /"Client"/);
  });

  it('works through a symlink, as npm links package bins', () => {
    const link = join(work.path, 'berth');
    symlinkSync(BIN, link);
    const out = execFileSync(link, ['version', '--client', '--format', '{{.Client.Version}}'], {
      encoding: 'utf8',
    });
    assert.match(out, /^\d+\.\d+\.\d+/);
  });

  it("gives each bundled module its tsc twin's import.meta.url (paths to bin/, package.json)", () => {
    const text = readFileSync(join(REPO, 'dist/berth/berth.script.js'), 'latin1');
    const twins = [...text.matchAll(/new URL\("\.\.\/([^"]+)",__berthScriptUrl\)/g)].map(
      (m) => m[1] as string,
    );
    assert.ok(twins.includes('cli/version-info.js'), twins.join(' '));
    for (const t of twins) assert.ok(existsSync(join(REPO, 'dist', t)), `dist/${t}`);
  });

  it('has code caches this node accepts (made by the build with the same node)', () => {
    const { CACHES } = createRequire(import.meta.url)(START) as Loader;
    for (const cache of [CACHES.daemon, CACHES.local, CACHES.ps]) {
      // A process each: V8 shares compiled code between Scripts of one source.
      const probe = `const l = require(${JSON.stringify(START)});
        const { script, exports } = l.load(require('node:fs').readFileSync(${JSON.stringify(cache)}));
        process.stdout.write(JSON.stringify([script.cachedDataRejected, typeof exports.main]));`;
      const out = execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
      assert.deepEqual(JSON.parse(out), [false, 'function'], cache);
    }
  });
});

describe('bin/containerd-shim-berth-v1', () => {
  it('runs the bundle: -v prints berth’s version, its build commit and node’s, as the Go shim prints its own', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const revision = readFileSync(join(REPO, 'dist/REVISION'), 'utf8').trim() || 'unknown';
    const out = execFileSync(join(REPO, 'bin/containerd-shim-berth-v1'), ['-v'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    assert.equal(
      out,
      `containerd-shim-berth-v1:\n  Version:  ${pkg.version}\n  Revision: ${revision}\n  Node version: ${process.version}\n\n`,
    );
  });
});
