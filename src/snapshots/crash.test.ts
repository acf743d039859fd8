import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { NativeSnapshotter } from './native.js';
import { OverlaySnapshotter } from './overlay.js';

const ctx: OpContext = { signal: new AbortController().signal, log: nullLogger };
const CHILD_ENV = 'BERTH_SNAPSHOT_CRASH_CHILD';
type Backend = 'native' | 'overlayfs';

/**
 * Waits (up to 5 s) until no process names `root` in its command line: the
 * native snapshotter's `cp`, which setpriv gives a parent-death signal, can
 * still outlive a child killed between its fork and that prctl, and would
 * write into the directory the reopened store is about to clean up.
 */
async function noProcessUsing(root: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const users = readdirSync('/proc').filter((p) => {
      if (!/^\d+$/.test(p)) return false;
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(root);
      } catch {
        return false;
      }
    });
    if (users.length === 0 || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const open = (kind: Backend, root: string) =>
  kind === 'native' ? new NativeSnapshotter(root) : new OverlaySnapshotter(root);

/** The child: prepares, fills, commits, views and removes until it is killed. */
async function churn(kind: Backend, root: string, run: string): Promise<void> {
  const sn = open(kind, root);
  process.stdout.write('ready\n');
  for (let i = 0; ; i++) {
    const k = (name: string, n = i) => `${run}-${name}${n}`;
    const parent = i % 3 !== 0 ? k('c', i - 1) : '';
    const [m] = await sn.prepare(ctx, k('a'), parent);
    // The writable dir: a bind's source, or an overlay's upperdir.
    const upper = m?.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
    const dir = m?.type === 'bind' ? m.source : (upper ?? '');
    for (let f = 0; f < 20; f++) writeFileSync(join(dir, `f${f}`), Buffer.alloc(4096, f));
    await sn.commit(ctx, k('c'), k('a'));
    await sn.view(ctx, k('v'), k('c'));
    await sn.remove(ctx, k('v'));
    if (i % 3 === 2) {
      for (const n of [i, i - 1, i - 2]) await sn.remove(ctx, k('c', n));
    }
  }
}

if (process.env[CHILD_ENV]) {
  const [kind, root, run] = JSON.parse(process.env[CHILD_ENV]) as [Backend, string, string];
  await churn(kind, root, run);
}

/**
 * kill -9 during a churn of creates, commits and removes: on reopen every
 * record has its directory, and Cleanup leaves exactly the live ones.
 */
describe('snapshotters survive kill -9', { skip: Boolean(process.env[CHILD_ENV]) }, () => {
  for (const kind of ['native', 'overlayfs'] as const) {
    it(`${kind}: records and directories agree after a crash`, async () => {
      const dir = tempDir();
      try {
        const root = join(dir.path, kind);
        for (const delay of [30, 90, 170, 260]) {
          const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename], {
            env: { ...process.env, [CHILD_ENV]: JSON.stringify([kind, root, `r${delay}`]) },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          await new Promise<void>((resolve, reject) => {
            child.stdout.once('data', () => resolve());
            child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
          });
          await new Promise((r) => setTimeout(r, delay));
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await exited;
          await noProcessUsing(root);

          const sn = open(kind, root);
          try {
            const infos = await sn.list(ctx);
            for (const info of infos) {
              const mounts =
                info.kind === 'committed' ? undefined : await sn.mounts(ctx, info.name);
              for (const m of mounts ?? []) {
                if (m.type === 'bind') assert.ok(existsSync(m.source), `${info.name}: ${m.source}`);
              }
            }
            await sn.cleanup(ctx);
            const live = readdirSync(join(root, 'snapshots'));
            for (const name of live) assert.match(name, /^\d+$/, 'only snapshot ids are left');
            const owning = infos.filter(
              (i) => kind === 'overlayfs' || i.kind !== 'view' || i.parent === '',
            );
            assert.equal(live.length, owning.length, 'one directory per record that has one');
            // The store still works.
            await sn.prepare(ctx, `after-${delay}`, '');
            await sn.remove(ctx, `after-${delay}`);
          } finally {
            sn.close();
          }
        }
      } finally {
        dir.remove();
      }
    });
  }
});
