import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Berthd } from '../helpers/berthd.js';

const root = process.getuid?.() === 0;
const TOTAL = 1000;
const KILL_AFTER = 300;
const CONCURRENCY = 8;

describe('crash safety', { skip: !root && 'needs root' }, () => {
  let dir: Berthd['dir'] | undefined;
  after(() => dir?.remove());

  it('kill -9 mid-burst of 1000 namespace creates loses no answered create', async () => {
    const d1 = await Berthd.start();
    dir = d1.dir;
    const client = d1.client();
    const answered = new Set<number>();
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        try {
          await client.namespaces.create(`burst-${i}`, {
            i: String(i),
            group: 'burst',
            pad: 'x'.repeat(512),
          });
          answered.add(i);
          if (answered.size >= KILL_AFTER && !killed) {
            killed = true;
            d1.proc.kill('SIGKILL');
          }
        } catch {
          // calls in flight when the daemon died fail; that is expected
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    client.close();
    await d1.kill9();
    assert.ok(killed, 'the daemon was killed mid-burst');
    assert.ok(answered.size >= KILL_AFTER && answered.size < TOTAL, `answered ${answered.size}`);

    const d2 = await Berthd.start({ dir: d1.dir });
    const c2 = d2.client();
    const present = await c2.namespaces.list();
    c2.close();
    const names = new Set(present.map((n) => n.name));
    for (const i of answered)
      assert.ok(names.has(`burst-${i}`), `answered create burst-${i} is missing`);
    for (const ns of present) {
      const i = Number(ns.name.slice('burst-'.length));
      assert.deepEqual(
        ns.labels,
        { i: String(i), group: 'burst', pad: 'x'.repeat(512) },
        `${ns.name} is whole`,
      );
    }
    assert.equal(await d2.stop(), 0);

    const db = new BetterSqlite3(join(d2.root, 'io.containerd.metadata.v1.sqlite', 'meta.db'), {
      readonly: true,
    });
    try {
      assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
      assert.deepEqual(db.pragma('foreign_key_check'), []);
    } finally {
      db.close();
    }
  });
});
