import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { removeTree } from '../../src/sys/remove-tree.js';
import { Berthd } from '../helpers/berthd.js';
import { ctr, ctrOk, table } from '../helpers/ctr.js';
import { buildAndPush, busyboxLayer } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;

/**
 * Writes a layer tar with python3's tarfile, which writes what it is told,
 * `..` and absolute names included: the hostile layers real tools refuse to
 * make.
 */
function hostileTar(path: string, script: string): string {
  const r = spawnSync(
    'python3',
    [
      '-c',
      `import tarfile, io, sys
t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)
def f(name, data=b'x'):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
def l(name, target, kind=tarfile.SYMTYPE):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = target; t.addfile(i)
def d(name):
    i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
${script}
t.close()`,
      path,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return path;
}

describe('hostile layers pulled through berthd', { skip: !root && 'needs root' }, () => {
  let dir: TempDir;
  let reg: Registry;
  let d: Berthd;
  let outside: string;

  before(async () => {
    dir = tempDir();
    // What a layer must never reach: a directory beside the daemon's root.
    outside = join(dir.path, 'outside');
    mkdirSync(outside);
    reg = await Registry.start(dir);
    d = await Berthd.start();
  });
  after(async () => {
    await d?.cleanup();
    await reg?.stop();
    dir?.remove();
  });

  const cases: [string, (tar: string) => string, RegExp][] = [
    ['path traversal', (p) => hostileTar(p, `f('../../../../../../xxx-escape')`), /escape|\.\./],
    ['absolute path', (p) => hostileTar(p, `f('/berth-absolute-escape')`), /absolute|escape/],
    [
      'symlink escape',
      (p) => p, // written below: it needs the real path of `outside`
      /symlink|escape/,
    ],
    [
      'hardlink escape',
      (p) => hostileTar(p, `l('hard', '../../../../../../etc/passwd', tarfile.LNKTYPE)`),
      /link|escape|\.\./,
    ],
    ['whiteout naming ..', (p) => hostileTar(p, `d('a')\nf('a/.wh...')`), /whiteout|\.\./],
  ];

  it('a gzip bomb (2 GiB of zeros in a 9 MiB blob) is bounded by disk, not by the daemon memory', async () => {
    const work = join(dir.path, 'bomb');
    mkdirSync(work);
    // A sparse 2 GiB file costs no disk until tar reads it as zeros.
    const zeros = join(work, 'zeros');
    spawnSync('truncate', ['-s', '2G', zeros]);
    const tarPath = join(work, 'bomb.tar');
    const t = spawnSync('tar', ['-C', work, '-cf', tarPath, 'zeros']);
    assert.equal(t.status, 0, String(t.stderr));
    const img = await buildAndPush(
      join(work, 'image'),
      reg,
      { layers: [{ tar: tarPath }] },
      'berth/hostile-bomb:v1',
    );
    // The 2 GiB tar has done its job; the registry holds the compressed blob.
    removeTree(work, dir.path);
    const status = `/proc/${d.pid}/status`;
    const kib = (field: string) =>
      Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(status, 'utf8'))?.[1] ?? 0);
    const rssBefore = kib('VmRSS');
    // Reset the peak, so VmHWM shows this pull's alone.
    writeFileSync(`/proc/${d.pid}/clear_refs`, '5');
    ctrOk(d.socket, ['images', 'pull', '--plain-http', img.pushed.ref]);
    const peak = kib('VmHWM');
    assert.ok(
      peak - rssBefore < 256 * 1024,
      `daemon peak ${peak} KiB vs ${rssBefore} KiB before: more than 256 MiB for a 2 GiB layer`,
    );
    ctrOk(d.socket, ['images', 'rm', '--sync', img.pushed.ref]);
    assert.deepEqual(table(ctrOk(d.socket, ['snapshots', 'ls'])).slice(1), []);
  });

  for (const [what, make, message] of cases) {
    it(`${what}: the pull fails clearly, nothing outside changes, no snapshot or mount is left`, async () => {
      const name = what.replace(/\W+/g, '-').replace(/^-|-$/g, '');
      const tarPath = join(dir.path, `${name}.tar`);
      make(tarPath);
      // The symlink case points at the real directory beside the root.
      if (what === 'symlink escape') {
        hostileTar(tarPath, `l('evil', ${JSON.stringify(outside)})\nf('evil/pwned')`);
      }
      const img = await buildAndPush(
        join(dir.path, name),
        reg,
        { layers: [busyboxLayer(['sh']), { tar: tarPath }] },
        `berth/hostile-${name}:v1`,
      );
      const r = ctr(d.socket, ['images', 'pull', '--plain-http', img.pushed.ref]);
      assert.notEqual(r.code, 0, `pull of ${what} must fail:\n${r.stdout}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /invalid argument/);
      assert.deepEqual(readdirSync(outside), [], 'nothing written beside the root');
      assert.equal(existsSync('/berth-absolute-escape'), false);
      assert.equal(existsSync('/xxx-escape'), false);
      // Only the committed busybox layer may stay; the failed one is gone.
      const rows = table(ctrOk(d.socket, ['snapshots', 'ls'])).slice(1);
      assert.ok(
        rows.every((row) => row.at(-1) === 'Committed'),
        JSON.stringify(rows),
      );
      assert.ok(rows.length <= 1, JSON.stringify(rows));
      assert.ok(
        !readFileSync('/proc/self/mountinfo', 'utf8').includes(d.root),
        'no mount left under the daemon root',
      );
    });
  }
});
