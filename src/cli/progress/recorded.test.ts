import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ctxOf, imageStores, type TestStores } from '../../../test/helpers/image-stores.js';
import {
  addImage,
  dirEntry,
  fileEntry,
  MemoryRegistry,
  type TestImage,
} from '../../../test/helpers/memory-registry.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { nullLogger } from '../../core/log/index.js';
import type { ProgressFn, StreamMessage, TransferStream } from '../../core/transfer/index.js';
import { pull } from '../../images/pull.js';
import { push } from '../../images/push.js';
import { ProgressSender } from '../../transfer/progress.js';
import { createProgress, type ProgressStream } from './index.js';

// The displays fed live by real image operations (src/images on real local
// stores, an in-memory registry), in the client and through the Transfer
// service's ProgressSender: the events' names and order are the real ones.

const REF = '127.0.0.1:5000/test/app:v1';
const DEST = '127.0.0.1:5000/dest/app:v2';
const AMD64 = 'linux/amd64';
const ctx = ctxOf('default');

class FakeStream implements ProgressStream {
  readonly writes: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 120,
  ) {}
  write(s: string): boolean {
    this.writes.push(s);
    return true;
  }
  get lines(): string[] {
    return this.writes.join('').trimEnd().split('\n');
  }
}

/** Both displays, fed by one ProgressFn; `events` counts what came. */
function displays() {
  const plain = new FakeStream(false);
  const tty = new FakeStream(true);
  // One clock for both, read once per event: their summaries agree.
  let clock = Date.now();
  const now = () => clock;
  const p = createProgress('plain', plain, { now, refreshMs: 0 });
  const t = createProgress('tty', tty, { now, refreshMs: 0, env: {} });
  let events = 0;
  const onProgress: ProgressFn = (e) => {
    clock = Date.now();
    events++;
    p.onProgress(e);
    t.onProgress(e);
  };
  return {
    plain,
    tty,
    onProgress,
    events: () => events,
    done: () => {
      clock = Date.now();
      p.done();
      t.done();
    },
  };
}

/** The ProgressFn a remote pull's client gets: the events berthd's ProgressSender sends. */
function throughTransfer(ref: string, fn: ProgressFn) {
  const stream: TransferStream = {
    id: 'progress-test',
    ended: new AbortController().signal,
    send: (m: StreamMessage) => {
      if (m.kind === 'progress') fn(m.progress);
      return Promise.resolve();
    },
    recv: () => new Promise(() => {}),
    close: () => {},
  };
  const sender = new ProgressSender(stream, nullLogger);
  return { forward: sender.forward(ref), sender };
}

const short = (digest: string) => digest.slice(7, 19);

/** The plain lines about one layer. */
const layerLines = (lines: string[], digest: string) =>
  lines.filter((l) => l.startsWith(`${short(digest)}: `));

describe('createProgress on real image operations', () => {
  let dir: TempDir;
  let stores: TestStores;
  let reg: MemoryRegistry;
  let img: TestImage;

  beforeEach(async () => {
    dir = tempDir('berth-progress-');
    stores = imageStores(dir.path);
    reg = new MemoryRegistry();
    // Small pieces: a layer's bytes come in many counts.
    reg.chunk = 4 * 1024;
    img = await addImage(reg, [
      [dirEntry('etc'), fileEntry('etc/a', 'a')],
      [fileEntry('big', randomBytes(1_500_000))],
      [fileEntry('etc/c', 'c')],
    ]);
    reg.tag(REF, img.manifest);
  });
  afterEach(async () => {
    await stores.close();
    dir.remove();
  });

  const layers = () => img.layers.map((l) => l.desc.digest);

  for (const remote of [false, true]) {
    it(`shows a pull with unpacking ${remote ? "through berthd's Transfer service" : 'in the client'}`, async () => {
      const d = displays();
      let onProgress = d.onProgress;
      let sender: ProgressSender | undefined;
      if (remote) {
        const t = throughTransfer(REF, d.onProgress);
        sender = t.sender;
        sender.status(`Pulling from OCI Registry (${REF})`);
        onProgress = t.forward;
      }
      await pull(ctx, stores, reg.resolver(), REF, {
        platforms: [AMD64],
        unpack: [{ snapshotter: 'native', platform: AMD64 }],
        onProgress,
      });
      if (sender) {
        sender.event('saved', REF);
        await sender.flush();
      }
      d.done();

      const lines = d.plain.lines;
      for (const l of layers()) {
        const mine = layerLines(lines, l);
        assert.equal(mine.at(-1), `${short(l)}: done`, lines.join('\n'));
        assert.ok(
          mine.some((x) => x.startsWith(`${short(l)}: unpacking`)),
          lines.join('\n'),
        );
        assert.equal(
          new Set(mine).size,
          mine.length,
          `a state printed twice:\n${lines.join('\n')}`,
        );
      }
      // At most: two status lines, a line per layer state (downloading, downloaded, unpacking, done), saved, summary.
      assert.ok(d.events() > 0);
      assert.ok(lines.length <= 2 + 3 * 4 + 2, lines.join('\n'));
      assert.ok(!lines.join('\n').includes(short(img.manifest.digest)), 'no line for the manifest');
      assert.ok(lines.includes(`saved ${REF}`), lines.join('\n'));
      assert.match(
        lines.at(-1)!,
        /^pulled 3 layers, 1\.5\d? MB in [\d.]+ m?s \([\d.]+ [kMG]?B\/s\)$/,
      );

      // The terminal: one row per layer, all done, then the total and the summary.
      const screen = d.tty.writes
        .join('')
        .split('\n')
        .map((l) =>
          l
            .replace(/^.*\r/, '')
            .replace(new RegExp(`${String.fromCharCode(27)}\\[[\\d;]*[A-Za-z]`, 'g'), ''),
        )
        .filter((l) => l !== '');
      const tail = screen.slice(-5);
      for (const [i, l] of layers().entries()) {
        assert.match(tail[i]!, new RegExp(`^${short(l)}: done `), tail.join('\n'));
      }
      assert.match(tail[3]!, /^total: 1\.5\d? MB, /);
      assert.equal(tail[4], lines.at(-1));
    });
  }

  it('shows a push, and a pull of what is there as already existing', async () => {
    const image = await pull(ctx, stores, reg.resolver(), REF, { platforms: [AMD64] });
    const pushed = displays();
    await push(ctx, stores, reg.resolver(), DEST, image, { onProgress: pushed.onProgress });
    pushed.done();
    let lines = pushed.plain.lines;
    for (const l of layers()) {
      const mine = layerLines(lines, l);
      // The in-memory registry has the blobs already (same registry): mounted or found.
      assert.ok(
        mine.at(-1) === `${short(l)}: done` || mine.at(-1) === `${short(l)}: already exists`,
        lines.join('\n'),
      );
    }
    assert.equal(lines[0], `pushing ${DEST}`);
    assert.match(lines.at(-1)!, /^pushed 3 layers/);

    const again = displays();
    await pull(ctx, stores, reg.resolver(), REF, {
      platforms: [AMD64],
      onProgress: again.onProgress,
    });
    again.done();
    lines = again.plain.lines;
    for (const l of layers())
      assert.deepEqual(layerLines(lines, l), [`${short(l)}: already exists`]);
    assert.match(lines.at(-1)!, /^pulled 3 layers \(3 already existed\), [\d.]+ k?B in /);
  });
});
