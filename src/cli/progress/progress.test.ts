import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Descriptor } from '../../core/content/index.js';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { nullLogger } from '../../core/log/index.js';
import type { Progress, StreamMessage, TransferStream } from '../../core/transfer/index.js';
import { refKey } from '../../images/media-types.js';
import { ProgressSender } from '../../transfer/progress.js';
import {
  createProgress,
  MIN_FRAME_MS,
  type ProgressStream,
  parseProgressMode,
  resolveMode,
} from './index.js';

// Recorded event sequences, built the way src/images (pull.ts, push.ts,
// import.ts, export.ts, progress.ts, unpack.ts) and berthd's Transfer
// service (src/transfer/local.ts, progress.ts) report them.

const REF = 'docker.io/library/busybox:latest';
const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const LAYER_MT = 'application/vnd.oci.image.layer.v1.tar+gzip';
const MANIFEST: Descriptor = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: digest('manifest'),
  size: 500,
};
const CONFIG: Descriptor = {
  mediaType: 'application/vnd.oci.image.config.v1+json',
  digest: digest('config'),
  size: 1500,
};
const L1: Descriptor = { mediaType: LAYER_MT, digest: digest('layer 1'), size: 10_000_000 };
const L2: Descriptor = { mediaType: LAYER_MT, digest: digest('layer 2'), size: 2_000_000 };
const short = (d: Descriptor) => d.digest.slice(7, 19);

type Recorded = [ms: number, p: Progress][];

/** BlobProgress's events for one blob. */
const blob = (event: string, d: Descriptor, parents: string[], progress = 0): Progress => ({
  event,
  name: refKey(d),
  parents,
  progress,
  total: d.size,
  desc: d,
});
/** unpack.ts names a layer by its digest. */
const unpackEvent = (event: string, d: Descriptor): Progress => ({
  event,
  name: d.digest,
  progress: event === 'unpacked' ? d.size : 0,
  total: d.size,
  desc: d,
});
const op = (event: string, name: string, desc?: Descriptor): Progress => ({
  event,
  name,
  progress: 0,
  total: 0,
  ...(desc && { desc }),
});

/**
 * A pull in the client with unpacking: the unpack of the first layer starts
 * (and waits) before its download; the second layer finishes downloading first.
 */
function localPull(): Recorded {
  const mk = refKey(MANIFEST);
  const r: Recorded = [
    [0, op('resolving', REF)],
    [50, op('resolved', REF, MANIFEST)],
    [60, blob('waiting', MANIFEST, [REF])],
    [61, blob('downloading', MANIFEST, [REF], 500)],
    [62, blob('complete', MANIFEST, [REF], 500)],
    [63, blob('waiting', CONFIG, [mk])],
    [64, blob('downloading', CONFIG, [mk], 1500)],
    [65, blob('complete', CONFIG, [mk], 1500)],
    [70, blob('waiting', L1, [mk])],
    [70, blob('waiting', L2, [mk])],
    [71, unpackEvent('unpacking', L1)],
  ];
  // Byte counts at most every 300 ms per blob.
  for (let t = 80; t < 3000; t += 300) {
    r.push([t, blob('downloading', L1, [mk], Math.round((L1.size * (t - 80)) / 2920))]);
    if (t < 1000)
      r.push([t + 1, blob('downloading', L2, [mk], Math.round((L2.size * (t - 80)) / 920))]);
  }
  r.push(
    [1000, blob('complete', L2, [mk], L2.size)],
    [3000, blob('complete', L1, [mk], L1.size)],
    [3100, unpackEvent('unpacked', L1)],
    [3101, unpackEvent('unpacking', L2)],
    [3200, unpackEvent('unpacked', L2)],
    [3300, op('saved', REF, MANIFEST)],
  );
  return r;
}

/** The same pull through berthd's Transfer service: the events its ProgressSender sends. */
async function remotePull(): Promise<Recorded> {
  const sent: StreamMessage[] = [];
  const stream: TransferStream = {
    id: 'progress-test',
    ended: new AbortController().signal,
    send: (m) => {
      sent.push(m);
      return Promise.resolve();
    },
    recv: () => new Promise(() => {}),
    close: () => {},
  };
  const sender = new ProgressSender(stream, nullLogger);
  const where = `OCI Registry (${REF})`;
  sender.status(`Resolving from ${where}`);
  sender.status(`Pulling from ${where}`);
  sender.event('fetching image content', REF);
  const forward = sender.forward(REF);
  for (const [, p] of localPull()) {
    if (p.event !== 'saved') forward(p);
  }
  sender.event('saved', REF);
  sender.status(`Completed pull from ${where}`);
  await sender.flush();
  return sent.map((m, i) => {
    assert.equal(m.kind, 'progress');
    return [i * 50, (m as { progress: Progress }).progress];
  });
}

/** A push: config and layers first (one mounted from elsewhere), then the manifest. */
function push(): Recorded {
  const mk = refKey(MANIFEST);
  const dst = 'registry.test/busybox:1';
  return [
    [0, op('pushing content', dst, MANIFEST)],
    [1, blob('waiting', CONFIG, [mk])],
    [1, blob('waiting', L1, [mk])],
    [1, blob('waiting', L2, [mk])],
    [2, blob('uploading', CONFIG, [mk], 1500)],
    [3, blob('complete', CONFIG, [mk])],
    [4, blob('already exists', L1, [mk])],
    [5, blob('uploading', L2, [mk], 0)],
    [305, blob('uploading', L2, [mk], 1_000_000)],
    [605, blob('uploading', L2, [mk], 2_000_000)],
    [606, blob('complete', L2, [mk])],
    [607, blob('waiting', MANIFEST, [dst])],
    [608, blob('uploading', MANIFEST, [dst], 500)],
    [609, blob('complete', MANIFEST, [dst])],
    [610, op('pushed content', dst, MANIFEST)],
  ];
}

/** A load (import) with unpacking: no byte counts, only the image saved and its layers unpacked. */
function load(): Recorded {
  return [
    [0, op('Importing', '')],
    [400, op('saved', REF, MANIFEST)],
    [401, unpackEvent('unpacking', L1)],
    [600, unpackEvent('unpacked', L1)],
    [601, unpackEvent('unpacking', L2)],
    [700, unpackEvent('unpacked', L2)],
    [701, op('Completed import', '')],
  ];
}

function save(): Recorded {
  return [
    [0, op('Exporting', '')],
    [900, op('Completed export', '')],
  ];
}

class FakeStream implements ProgressStream {
  readonly writes: string[] = [];
  constructor(
    readonly isTTY = false,
    readonly columns = 100,
    readonly rows: number | undefined = undefined,
  ) {}
  write(s: string): boolean {
    this.writes.push(s);
    return true;
  }
  get text(): string {
    return this.writes.join('');
  }
}

const NO_ENV = {};

/** Plays a recording into a display on a fake clock; `end` is when done() is called. */
function play(
  mode: 'tty' | 'plain' | 'json' | 'quiet',
  rec: Recorded,
  stream: FakeStream,
  opts: { end?: number; summary?: string; env?: NodeJS.ProcessEnv; fail?: boolean } = {},
) {
  let clock = 0;
  const d = createProgress(mode, stream, {
    now: () => clock,
    refreshMs: 0,
    env: opts.env ?? NO_ENV,
  });
  for (const [t, p] of rec) {
    clock = t;
    d.onProgress(p);
  }
  clock = opts.end ?? clock;
  if (opts.fail) d.fail(new Error('boom'));
  else d.done(opts.summary);
  return stream;
}

const ESC = String.fromCharCode(27);
const ESCAPE = new RegExp(`^${ESC}\\[(\\d*)([AKJm]|(?:;\\d+)*m)`);
/** A color (select graphic rendition) code. */
const SGR = new RegExp(`${ESC}\\[[\\d;]*m`);

/**
 * What a terminal shows after `out`: \r, \n, ESC[nA, ESC[K and ESC[J move
 * and clear; color codes are dropped. Fails on any other escape.
 */
function screen(out: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < out.length; i++) {
    const c = out[i]!;
    if (c === '\x1b') {
      const m = ESCAPE.exec(out.slice(i));
      assert.ok(m, `unexpected escape at ${JSON.stringify(out.slice(i, i + 10))}`);
      const n = Number(m[1] || '1');
      if (m[2] === 'A') row = Math.max(0, row - n);
      if (m[2] === 'K') lines[row] = lines[row]!.slice(0, col);
      if (m[2] === 'J') {
        lines[row] = lines[row]!.slice(0, col);
        lines.length = row + 1;
      }
      i += m[0].length - 1;
      continue;
    }
    if (c === '\r') col = 0;
    else if (c === '\n') {
      row++;
      col = 0;
      if (lines[row] === undefined) lines[row] = '';
    } else {
      const l = lines[row]!;
      lines[row] = l.slice(0, col).padEnd(col) + c + l.slice(col + 1);
      col++;
    }
  }
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  return lines;
}

describe('createProgress: plain', () => {
  it('writes one line per change of a layer state, the saved image and a summary (pull in the client)', () => {
    const out = play('plain', localPull(), new FakeStream());
    assert.deepEqual(out.text.split('\n'), [
      `resolving ${REF}`,
      `pulling ${REF}`,
      `${short(L1)}: downloading 10 MB`,
      `${short(L2)}: downloading 2 MB`,
      `${short(L2)}: downloaded`,
      `${short(L1)}: unpacking 10 MB`,
      `${short(L1)}: done`,
      `${short(L2)}: unpacking 2 MB`,
      `${short(L2)}: done`,
      `saved ${REF}`,
      // 12,002,000 bytes (layers, manifest, config) in 3.3 s.
      'pulled 2 layers, 12 MB in 3.3 s (3.64 MB/s)',
      '',
    ]);
  });

  it("shows a pull through berthd's Transfer service the same way, its status lines included", async () => {
    const out = play('plain', await remotePull(), new FakeStream());
    const lines = out.text.split('\n');
    assert.deepEqual(lines.slice(0, 2), [
      `Resolving from OCI Registry (${REF})`,
      `Pulling from OCI Registry (${REF})`,
    ]);
    // One row per layer although the daemon names unpacking by ref key and the client by digest.
    for (const l of [L1, L2]) {
      const mine = lines.filter((x) => x.startsWith(`${short(l)}: `));
      assert.equal(mine.at(-1), `${short(l)}: done`);
      assert.ok(
        mine.includes(`${short(l)}: unpacking ${l === L1 ? '10' : '2'} MB`),
        mine.join('\n'),
      );
      assert.equal(new Set(mine).size, mine.length, `a state printed twice: ${mine.join(', ')}`);
    }
    assert.ok(!out.text.includes(short(MANIFEST)), 'manifests and configs get no lines');
    assert.ok(lines.includes(`saved ${REF}`));
    assert.ok(lines.includes(`Completed pull from OCI Registry (${REF})`));
    assert.match(lines.at(-2)!, /^pulled 2 layers, 12 MB in [\d.]+ m?s \([\d.]+ [kMG]?B\/s\)$/);
  });

  it('prints a total line at most every 5 s while bytes move, never a line per byte count', () => {
    const rec: Recorded = [[0, blob('waiting', L1, [])]];
    // 60 s of byte counts every 100 ms.
    for (let t = 100; t <= 60_000; t += 100) {
      rec.push([t, blob('downloading', L1, [], Math.round((L1.size * t) / 60_000))]);
    }
    rec.push([60_001, blob('complete', L1, [])]);
    const lines = play('plain', rec, new FakeStream()).text.trimEnd().split('\n');
    const totals = lines.filter((l) => l.startsWith('total: '));
    assert.equal(totals.length, 12, lines.join('\n'));
    assert.equal(totals[0], 'total: 833 kB of 10 MB (167 kB/s, 5 s)');
    assert.equal(lines.length, 12 + 3, lines.join('\n'));
    assert.equal(lines[0], `${short(L1)}: downloading 10 MB`);
    assert.equal(lines.at(-2), `${short(L1)}: downloaded`);
    assert.equal(lines.at(-1), 'pulled 1 layer, 10 MB in 1m00s (167 kB/s)');
  });

  it('reports a push: uploads, a mounted layer as already existing, and what was pushed', () => {
    const lines = play('plain', push(), new FakeStream()).text.trimEnd().split('\n');
    assert.deepEqual(lines, [
      'pushing registry.test/busybox:1',
      `${short(L1)}: already exists`,
      `${short(L2)}: uploading 2 MB`,
      `${short(L2)}: done`,
      'pushed registry.test/busybox:1',
      'pushed 2 layers (1 already existed), 2 MB in 610 ms (3.28 MB/s)',
    ]);
  });

  it('reports a load and a save with the summary the command gives', () => {
    const loaded = play('plain', load(), new FakeStream(), { summary: `Loaded image: ${REF}` });
    assert.deepEqual(loaded.text.trimEnd().split('\n'), [
      'Importing',
      `saved ${REF}`,
      `${short(L1)}: unpacking 10 MB`,
      `${short(L1)}: done`,
      `${short(L2)}: unpacking 2 MB`,
      `${short(L2)}: done`,
      'Completed import',
      `Loaded image: ${REF}`,
    ]);
    const saved = play('plain', save(), new FakeStream());
    assert.deepEqual(saved.text, 'Exporting\nCompleted export\n');
  });

  it('marks unfinished layers failed on fail(), with no summary', () => {
    const rec = localPull().filter(([t]) => t < 2000);
    const lines = play('plain', rec, new FakeStream(), { fail: true }).text.trimEnd().split('\n');
    assert.equal(lines.at(-1), `${short(L2)}: failed`);
    assert.equal(lines.at(-2), `${short(L1)}: failed`);
    assert.ok(!lines.some((l) => l.startsWith('pulled')));
  });
});

describe('createProgress: tty', () => {
  it('redraws in place, leaving the final frame and the summary on screen', () => {
    const out = play('tty', localPull(), new FakeStream(true, 100));
    const s = screen(out.text);
    assert.equal(s.length, 5, s.join('\n'));
    assert.equal(s[0], `pulling ${REF}`);
    assert.match(s[1]!, new RegExp(`^${short(L1)}: done +10 MB$`));
    assert.match(s[2]!, new RegExp(`^${short(L2)}: done +2 MB$`));
    assert.equal(s[3], 'total: 12 MB, 3.64 MB/s, 3.3 s');
    assert.equal(s[4], 'pulled 2 layers, 12 MB in 3.3 s (3.64 MB/s)');
  });

  it('shows a bar and bytes while a layer downloads', () => {
    const rec = localPull().filter(([t]) => t < 1000);
    const stream = new FakeStream(true, 100);
    let clock = 0;
    const d = createProgress('tty', stream, { now: () => clock, refreshMs: 0, env: NO_ENV });
    for (const [t, p] of rec) {
      clock = t;
      d.onProgress(p);
    }
    const s = screen(stream.text);
    const l1 = s.find((l) => l.startsWith(short(L1)))!;
    assert.match(l1, /: downloading +\[=+> +\] [\d.]+ MB\/10 MB$/);
    assert.match(
      s.find((l) => l.startsWith(short(L2)))!,
      /: downloading +\[=+> *\] [\d.]+ MB\/2 MB$/,
    );
    d.done();
  });

  it('draws at most 10 frames a second however often events come', () => {
    const rec: Recorded = [[0, blob('waiting', L1, [])]];
    // One byte count a millisecond for 2 s.
    for (let t = 1; t <= 2000; t++) rec.push([t, blob('downloading', L1, [], t * 5000)]);
    rec.push([2000, blob('complete', L1, [])]);
    const out = play('tty', rec, new FakeStream(true, 80));
    // 2 s at one frame per 100 ms, the first frame, and the final one.
    const frames = out.writes.filter((w) => w.includes('\x1b[K'));
    assert.ok(frames.length <= 2000 / MIN_FRAME_MS + 2, `${frames.length} frames`);
    assert.ok(
      frames.length >= 2000 / MIN_FRAME_MS - 1,
      `${frames.length} frames: the display should move`,
    );
    assert.match(screen(out.text)[0]!, /: downloaded +10 MB$/);
  });

  it('draws a change that came too soon for a frame once one may be drawn (real timers)', async () => {
    const stream = new FakeStream(true, 100);
    const d = createProgress('tty', stream, { env: NO_ENV });
    d.onProgress(blob('waiting', L1, []));
    d.onProgress(blob('downloading', L1, [], 1000));
    const last = () => screen(stream.text).find((l) => l.startsWith(short(L1)))!;
    assert.match(last(), /: waiting/);
    await new Promise((r) => setTimeout(r, 4 * MIN_FRAME_MS));
    assert.match(last(), /: downloading/);
    d.done();
  });

  it('fits every line to the width of the terminal', () => {
    for (const columns of [30, 50, 80, 200]) {
      const stream = new FakeStream(true, columns);
      let clock = 0;
      const d = createProgress('tty', stream, { now: () => clock, refreshMs: 0, env: NO_ENV });
      for (const [t, p] of localPull()) {
        clock = t;
        d.onProgress(p);
        for (const l of screen(stream.text)) {
          assert.ok(l.length < columns, `${columns} columns: ${JSON.stringify(l)}`);
        }
      }
      d.done();
    }
  });

  it('colors the state only on a terminal and without NO_COLOR', () => {
    const colored = play('tty', localPull(), new FakeStream(true));
    assert.ok(colored.text.includes('\x1b[32mdone\x1b[0m'));
    const noColor = play('tty', localPull(), new FakeStream(true), { env: { NO_COLOR: '1' } });
    assert.ok(!SGR.test(noColor.text));
    assert.deepEqual(screen(noColor.text), screen(colored.text));
    let clock = 0;
    const opt = new FakeStream(true);
    const d = createProgress('tty', opt, {
      now: () => clock++,
      refreshMs: 0,
      env: NO_ENV,
      noColor: true,
    });
    for (const [, p] of localPull()) d.onProgress(p);
    d.done();
    assert.ok(!SGR.test(opt.text));
  });

  it('folds finished layers when the frame would not fit the screen', () => {
    const rec: Recorded = [];
    const layers = Array.from({ length: 30 }, (_, i) => ({
      mediaType: LAYER_MT,
      digest: digest(`layer ${i}`),
      size: 1000,
    }));
    for (const [i, l] of layers.entries()) rec.push([i, blob('waiting', l, [])]);
    for (const [i, l] of layers.slice(0, 25).entries()) {
      rec.push([200 * (i + 1), blob('complete', l, [], 1000)]);
    }
    rec.push([5200, blob('downloading', layers[25]!, [], 500)]);
    const run = (rows: number) => {
      const stream = new FakeStream(true, 80, rows);
      let clock = 0;
      const d = createProgress('tty', stream, { now: () => clock, refreshMs: 0, env: NO_ENV });
      for (const [at, p] of rec) {
        clock = at;
        d.onProgress(p);
      }
      const s = screen(stream.text);
      assert.ok(s.length < rows, s.join('\n'));
      assert.match(s[0]!, /^\d+ more layers finished$/);
      assert.ok(s.some((l) => l.startsWith(`${short(layers[25]!)}: downloading`)));
      assert.match(s.at(-1)!, /^total: 25.5 kB\/30 kB/);
      return { s, d, stream };
    };
    // Enough finished rows to fold.
    const tall = run(12);
    assert.ok(tall.s.some((l) => l.startsWith(`${short(layers[29]!)}: waiting`)));
    // Not enough: the last waiting ones fold too.
    const { s, d, stream } = run(6);
    assert.match(s.at(-2)!, /^\d more layers? waiting$/);
    assert.ok(!s.some((l) => l.startsWith(`${short(layers[29]!)}: `)));
    d.fail(new Error('interrupted'));
    assert.ok(screen(stream.text).some((l) => l.startsWith(`${short(layers[25]!)}: failed`)));
  });
});

describe('createProgress: json and quiet', () => {
  it('writes one JSON object per event and nothing else', async () => {
    for (const rec of [localPull(), await remotePull(), push(), load(), save()]) {
      const out = play('json', rec, new FakeStream());
      const lines = out.text.trimEnd().split('\n');
      assert.equal(lines.length, rec.length);
      lines.forEach((l, i) => {
        const o = JSON.parse(l);
        const [t, p] = rec[i]!;
        assert.deepEqual(
          Object.keys(o).filter((k) => k !== 'parents'),
          ['event', 'name', 'progress', 'total', 'time'],
        );
        assert.equal(o.event, p.event);
        assert.equal(o.name, p.name);
        assert.equal(o.progress, p.progress);
        assert.equal(o.time, new Date(t).toISOString());
      });
    }
  });

  it('quiet writes nothing', () => {
    assert.equal(play('quiet', localPull(), new FakeStream(true)).writes.length, 0);
  });
});

describe('resolveMode', () => {
  it('is tty on a terminal, plain elsewhere and on a dumb terminal', () => {
    assert.equal(resolveMode('auto', new FakeStream(true), {}), 'tty');
    assert.equal(resolveMode('auto', new FakeStream(true), { TERM: 'dumb' }), 'plain');
    assert.equal(resolveMode('auto', new FakeStream(false), {}), 'plain');
    assert.equal(resolveMode('json', new FakeStream(true), {}), 'json');
  });

  it('parses --progress values', () => {
    assert.equal(parseProgressMode('plain'), 'plain');
    assert.throws(() => parseProgressMode('fancy'), isInvalidArgument);
  });
});
