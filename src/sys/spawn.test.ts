import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type SpawnedChild, spawnDetached } from './spawn.js';

async function collect(child: SpawnedChild) {
  const text = (s: NodeJS.ReadableStream) =>
    new Promise<string>((resolve) => {
      let t = '';
      s.on('data', (b: Buffer) => {
        t += b.toString('utf8');
      });
      s.on('close', () => resolve(t));
    });
  const [stdout, stderr, exit] = await Promise.all([
    text(child.stdout),
    text(child.stderr),
    child.exited,
  ]);
  return { stdout, stderr, ...exit };
}

describe('spawnDetached', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('pipes stdin, stdout and stderr, in cwd, with env, and answers the exit status', async () => {
    const child = spawnDetached('/bin/sh', ['-c', 'cat; pwd; echo "$GREETING" >&2; exit 3'], {
      cwd: dir,
      env: { GREETING: 'hi', PATH: '/usr/bin:/bin' },
    });
    child.stdin.end('from stdin\n');
    const r = await collect(child);
    assert.deepEqual(r, { stdout: `from stdin\n${dir}\n`, stderr: 'hi\n', code: 3, signal: null });
  });

  it('starts a new session with default signal actions and none blocked', async () => {
    const child = spawnDetached(
      '/bin/sh',
      ['-c', 'cat /proc/self/stat; grep -E "^Sig(Blk|Ign)" /proc/self/status'],
      {
        cwd: dir,
        env: {},
      },
    );
    child.stdin.end();
    const r = await collect(child);
    assert.equal(r.code, 0, r.stderr);
    const [stat, ...sig] = r.stdout.trim().split('\n');
    const fields = (stat ?? '').slice((stat ?? '').lastIndexOf(')') + 2).split(' ');
    // cat runs in the shell's session: the sid is the shell's pid.
    assert.equal(Number(fields[3]), child.pid, 'session id');
    assert.equal(Number(fields[2]), child.pid, 'process group');
    // Node ignores SIGPIPE; the child must not inherit that.
    assert.deepEqual(sig, ['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000']);
  });

  it('reports the signal that killed it, and kill is a no-op once reaped', async () => {
    const child = spawnDetached('/bin/sleep', ['1000'], { cwd: dir, env: {} });
    child.stdin.end();
    child.kill('SIGKILL');
    const r = await collect(child);
    assert.equal(r.code, null);
    assert.equal(r.signal, 'SIGKILL');
    assert.doesNotThrow(() => child.kill('SIGKILL'));
    assert.throws(() => readFileSync(`/proc/${child.pid}/stat`), { code: 'ENOENT' });
  });

  it('reaps children that exit together', async () => {
    const children = Array.from({ length: 8 }, (_, i) =>
      spawnDetached('/bin/sh', ['-c', `exit ${i}`], { cwd: dir, env: {} }),
    );
    for (const c of children) c.stdin.end();
    const codes = await Promise.all(children.map(async (c) => (await collect(c)).code));
    assert.deepEqual(codes, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('throws what posix_spawn reports, leaking no fd', () => {
    // Open fds by number and target. Only a new one is a leak: an fd an
    // earlier test's child left may be closed meanwhile, so counts can drop.
    const fds = () => {
      const open = new Map<string, string>();
      for (const fd of readdirSync('/proc/self/fd')) {
        try {
          open.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
        } catch {
          // closed between the listing and the readlink (readdir's own fd)
        }
      }
      return open;
    };
    const leaked = (before: Map<string, string>) =>
      [...fds()].filter(([fd, target]) => before.get(fd) !== target);
    const before = fds();
    assert.throws(() => spawnDetached(join(dir, 'missing'), [], { cwd: dir, env: {} }), {
      code: 'ENOENT',
    });
    assert.throws(() => spawnDetached('/bin/true', [], { cwd: join(dir, 'missing'), env: {} }), {
      code: 'ENOENT',
    });
    assert.deepEqual(leaked(before), []);
  });
});
