/**
 * Concurrent pulls through berthd's Transfer service (containerd 1.7's
 * `ctr images pull --local=false`) of three images on one base layer: the
 * base is fetched once and applied once, in one namespace and across
 * namespaces, and every image is complete and runnable. Applies are counted
 * from berthd's debug log (`unpack: layer applied`, and the line of an Apply
 * whose commit lost to another unpack's), fetches from the registry's log.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Berthd } from '../helpers/berthd.js';
import { CTR17, containerd17Missing } from '../helpers/containerd.js';
import { ctrOkAsync, table } from '../helpers/ctr.js';
import {
  type BuiltImage,
  buildAndPush,
  busyboxLayer,
  DEFAULT_PATH,
  type Entry,
  type Pushed,
} from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { blobGets } from '../helpers/registry-log.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root' : containerd17Missing();
const PLATFORM = 'linux/amd64';

const ctr17Ok = (socket: string, args: string[], namespace: string): Promise<string> =>
  ctrOkAsync(socket, args, { bin: CTR17, timeoutMs: 120_000, namespace });
const ctrOk = (socket: string, args: string[], namespace: string): Promise<string> =>
  ctrOkAsync(socket, args, { timeoutMs: 60_000, namespace });

const APPLIED = new Set([
  'unpack: layer applied',
  'unpack: layer applied, committed by another meanwhile',
]);

/** berthd's Applies of each layer in `log` (debug lines). */
function applies(log: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of log.split('\n')) {
    if (!line.startsWith('{') || !line.includes('unpack: layer applied')) continue;
    const rec = JSON.parse(line) as { msg?: string; layer?: string };
    if (rec.msg !== undefined && APPLIED.has(rec.msg) && rec.layer !== undefined) {
      out.set(rec.layer, (out.get(rec.layer) ?? 0) + 1);
    }
  }
  return out;
}

describe('concurrent Transfer pulls of images sharing a base layer', { skip }, () => {
  let dir: TempDir;
  let reg: Registry;
  let d: Berthd;
  const imgs: (BuiltImage & { pushed: Pushed })[] = [];

  before(async () => {
    dir = tempDir();
    reg = await Registry.start(dir, { logLevel: 'info', maxOutput: 8 << 20 });
    // A base large enough that three unpacks of it would overlap: busybox,
    // 1,500 small files and 8 MiB of incompressible bytes.
    const filler: Entry[] = Array.from({ length: 1500 }, (_, i) => ({
      type: 'file',
      path: `usr/share/base/d${Math.floor(i / 100)}/f${i}.txt`,
      content: `base file ${i}\n`.repeat(20),
    }));
    const base = busyboxLayer();
    if (!('entries' in base)) throw new Error('busyboxLayer() has entries');
    const baseLayer = {
      createdBy: 'base',
      entries: [
        ...base.entries,
        ...filler,
        { type: 'file', path: 'usr/lib/blob.bin', content: randomBytes(8 << 20) } as Entry,
      ],
    };
    for (const who of ['a', 'b', 'c']) {
      const top = {
        createdBy: who,
        entries: [{ type: 'file', path: `app/${who}.txt`, content: `I am ${who}\n` } as Entry],
      };
      const first = imgs[0];
      const img = await buildAndPush(
        dir,
        reg,
        {
          layers: [first ? { tar: first.layers[0]!.tarPath } : baseLayer, top],
          config: { cmd: ['sh'], env: [DEFAULT_PATH] },
        },
        `berth/shared-${who}:v1`,
      );
      imgs.push(img);
    }
    assert.equal(new Set(imgs.map((i) => i.layers[0]!.digest)).size, 1, 'one base layer');
    d = await Berthd.start({ args: ['--log-level', 'debug'] });
  });
  after(async () => {
    await d?.cleanup();
    await reg?.stop();
    dir?.remove();
  });

  const pull = (ns: string, ref: string) =>
    ctr17Ok(d.socket, ['images', 'pull', '--local=false', '--platform', PLATFORM, ref], ns);

  /** Pulls image i into namespaces[i] (all three at once); returns the Applies and GETs meanwhile. */
  async function pullAtOnce(namespaces: string[]) {
    const logMark = d.output.length;
    const regMark = reg.output.length;
    await Promise.all(imgs.map((img, i) => pull(namespaces[i]!, img.pushed.ref)));
    await new Promise((r) => setTimeout(r, 300)); // the registry logs a request once answered
    return { applies: applies(d.output.slice(logMark)), gets: blobGets(reg.output.slice(regMark)) };
  }

  async function checkComplete(ns: string, img: BuiltImage & { pushed: Pushed }) {
    const row = table(await ctrOk(d.socket, ['images', 'check'], ns))
      .slice(1)
      .find((r) => r[0] === img.pushed.ref);
    // ctr counts the config and the layers.
    assert.ok(row?.join(' ').includes('complete (3/3)'), `${img.pushed.ref}: ${row?.join(' ')}`);
  }

  async function removeAll(namespaces: string[]) {
    for (const [i, ns] of namespaces.entries()) {
      await ctrOk(d.socket, ['images', 'rm', '--sync', imgs[i]!.pushed.ref], ns);
    }
    for (const ns of new Set(namespaces)) {
      assert.deepEqual(table(await ctrOk(d.socket, ['snapshots', 'ls'], ns)).slice(1), []);
      assert.deepEqual(table(await ctrOk(d.socket, ['content', 'ls'], ns)).slice(1), []);
      await ctrOk(d.socket, ['namespaces', 'rm', ns], 'default');
    }
  }

  /** What the pulls into one namespace must have done and left. */
  async function checkOneNamespace(
    ns: string,
    applies: Map<string, number>,
    gets: Map<string, number>,
  ) {
    const base = imgs[0]!.layers[0]!.digest;
    assert.equal(applies.get(base), 1, `base applies: ${JSON.stringify([...applies])}`);
    assert.equal(gets.get(base), 1, 'base GETs');
    for (const img of imgs) {
      assert.equal(applies.get(img.layers[1]!.digest), 1, 'its own layer applied once');
      await checkComplete(ns, img);
    }
    const snaps = table(await ctrOk(d.socket, ['snapshots', 'ls'], ns)).slice(1);
    assert.equal(snaps.length, 4, JSON.stringify(snaps));
    assert.ok(
      snaps.every((r) => r.at(-1) === 'Committed'),
      JSON.stringify(snaps),
    );
    const out = await ctrOk(
      d.socket,
      ['run', '--rm', imgs[2]!.pushed.ref, `shared-run-${process.pid}`, 'cat', '/app/c.txt'],
      ns,
    );
    assert.equal(out.trim(), 'I am c');
  }

  it('three at once into one namespace: the base fetched once and applied once', async () => {
    const ns = 'shared-one';
    const { applies, gets } = await pullAtOnce([ns, ns, ns]);
    try {
      await checkOneNamespace(ns, applies, gets);
    } finally {
      await removeAll([ns, ns, ns]);
    }
  });

  it('three at once into three namespaces: the base applied once, shared by all', async () => {
    const nss = ['shared-n1', 'shared-n2', 'shared-n3'];
    const { applies, gets } = await pullAtOnce(nss);
    try {
      const base = imgs[0]!.layers[0]!.digest;
      assert.equal(applies.get(base), 1, `base applies: ${JSON.stringify([...applies])}`);
      assert.equal(gets.get(base), 1, 'base GETs');
      for (const [i, ns] of nss.entries()) {
        await checkComplete(ns, imgs[i]!);
        assert.equal(table(await ctrOk(d.socket, ['snapshots', 'ls'], ns)).slice(1).length, 2);
      }
    } finally {
      await removeAll(nss);
    }
  });
});
