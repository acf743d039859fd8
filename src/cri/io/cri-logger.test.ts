import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CriLogLineWriter, DEFAULT_MAX_CONTAINER_LOG_LINE_SIZE } from './cri-logger.js';
import { formatRFC3339Nano } from './timestamp.js';

interface Line {
  ts: string;
  stream: string;
  tag: string;
  text: string;
}

/** Feeds `chunks` and the end of the stream; answers the lines written, parsed. */
function run(chunks: (string | Buffer)[], maxLen: number, stream: 'stdout' | 'stderr' = 'stdout') {
  const out: Buffer[] = [];
  let t = 1_700_000_000_000_000_000n;
  const w = new CriLogLineWriter(
    stream,
    maxLen,
    (l) => out.push(l),
    () => (t += 1000n),
  );
  for (const c of chunks) w.write(Buffer.isBuffer(c) ? c : Buffer.from(c));
  w.end();
  return splitLines(out).map(parse);
}

/** The lines in what was emitted (several lines may come in one buffer). */
function splitLines(out: Buffer[]): Buffer[] {
  const all = Buffer.concat(out);
  const lines: Buffer[] = [];
  for (let start = 0; start < all.length; ) {
    const nl = all.indexOf(0x0a, start);
    assert.ok(nl >= 0, 'emitted text ends with a newline');
    lines.push(all.subarray(start, nl + 1));
    start = nl + 1;
  }
  return lines;
}

function parse(line: Buffer): Line {
  const s = line.toString('latin1');
  const [ts, stream, tag, ...rest] = s.slice(0, -1).split(' ');
  return { ts: ts!, stream: stream!, tag: tag!, text: rest.join(' ') };
}

const tags = (lines: Line[]) => lines.map((l) => `${l.tag}:${l.text.length}`);

describe('CriLogLineWriter', () => {
  it('writes one F line per line of output, stamped, naming the stream', () => {
    const lines = run(['hello world\nsecond', ' line\n'], 100, 'stderr');
    assert.deepEqual(
      lines.map((l) => [l.stream, l.tag, l.text]),
      [
        ['stderr', 'F', 'hello world'],
        ['stderr', 'F', 'second line'],
      ],
    );
    assert.equal(lines[0]!.ts, formatRFC3339Nano(1_700_000_000_000_001_000n));
    assert.ok(lines[1]!.ts > lines[0]!.ts);
  });

  it('writes an empty line as an F line with no text', () => {
    assert.deepEqual(
      run(['\n\nx\n'], 10).map((l) => [l.tag, l.text]),
      [
        ['F', ''],
        ['F', ''],
        ['F', 'x'],
      ],
    );
  });

  it('writes text left without a newline at the end as a P line, as containerd 1.6 does', () => {
    assert.deepEqual(
      run(['done\nno newline'], 100).map((l) => [l.tag, l.text]),
      [
        ['F', 'done'],
        ['P', 'no newline'],
      ],
    );
    assert.deepEqual(run([''], 100), []);
  });

  it('drops \\r before \\n but keeps any other \\r', () => {
    assert.deepEqual(
      run(['crlf\r\n', 'a\rb\n', 'split\r', '\n', 'end\r'], 100).map((l) => [l.tag, l.text]),
      [
        ['F', 'crlf'],
        ['F', 'a\rb'],
        ['F', 'split'],
        ['P', 'end\r'],
      ],
    );
  });

  it('cuts lines longer than the limit into P parts of exactly the limit, the last part F', () => {
    const a = (n: number) => 'a'.repeat(n);
    // A line of exactly the limit is not cut.
    assert.deepEqual(tags(run([`${a(8)}\n`], 8)), ['F:8']);
    assert.deepEqual(tags(run([`${a(9)}\n`], 8)), ['P:8', 'F:1']);
    assert.deepEqual(tags(run([`${a(16)}\n`], 8)), ['P:8', 'F:8']);
    assert.deepEqual(tags(run([`${a(17)}\n${a(3)}\n`], 8)), ['P:8', 'P:8', 'F:1', 'F:3']);
    // \r\n straddling the limit: the \r is no text.
    assert.deepEqual(tags(run([`${a(8)}\r`, '\n'], 8)), ['F:8']);
    assert.deepEqual(tags(run([`${a(8)}\r`, 'b\n'], 8)), ['P:8', 'F:2']);
    // At the end of the stream, the rest of a cut line is P too.
    assert.deepEqual(tags(run([a(20)], 8)), ['P:8', 'P:8', 'P:4']);
  });

  it('writes a P part as soon as the limit is passed, holding no more than the limit', () => {
    const out: Buffer[] = [];
    const w = new CriLogLineWriter('stdout', 4, (l) => out.push(l));
    w.write(Buffer.from('abcd'));
    assert.equal(out.length, 0, 'a line of the limit may still end');
    w.write(Buffer.from('e'));
    assert.deepEqual(
      out.map(parse).map((l) => [l.tag, l.text]),
      [['P', 'abcd']],
    );
  });

  it('has no limit when the size is 0 or negative', () => {
    const big = 'b'.repeat(100_000);
    assert.deepEqual(tags(run([big.slice(0, 5), big.slice(5), '\n'], 0)), ['F:100000']);
    assert.deepEqual(tags(run([`${big}\n`], -1)), ['F:100000']);
  });

  it('defaults to containerd 1.6 limit of 16 KiB', () => {
    assert.equal(DEFAULT_MAX_CONTAINER_LOG_LINE_SIZE, 16384);
  });

  it('gives the same lines however the output is chunked (random inputs)', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ['a', 'b', '\n', '\r', ' ', 'é'];
    for (let round = 0; round < 300; round++) {
      const maxLen = [1, 2, 3, 7, 16, -1][rand(6)]!;
      let input = '';
      const n = rand(200);
      for (let i = 0; i < n; i++) input += alphabet[rand(alphabet.length)]!;
      const bytes = Buffer.from(input);
      const whole = run([bytes], maxLen).map((l) => [l.tag, l.text]);
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; ) {
        const len = 1 + rand(9);
        chunks.push(bytes.subarray(i, i + len));
        i += len;
      }
      const chunked = run(chunks, maxLen).map((l) => [l.tag, l.text]);
      assert.deepEqual(chunked, whole, `input ${JSON.stringify(input)} maxLen ${maxLen}`);
      // Joining P parts up to each F gives the lines back, \r\n-ended ones without the \r.
      const rebuilt: string[] = [];
      let cur = '';
      for (const [tag, text] of whole) {
        cur += text;
        if (tag === 'F') {
          rebuilt.push(cur);
          cur = '';
        }
      }
      const expectLines = bytes.toString('latin1').split('\n');
      const tail = expectLines.pop()!;
      assert.deepEqual(
        rebuilt,
        expectLines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)),
      );
      assert.equal(cur, tail);
      if (maxLen > 0) {
        for (const [tag, text] of whole) {
          assert.ok(text!.length <= maxLen, 'no part is longer than the limit');
          if (tag === 'P' && text!.length < maxLen) assert.equal(cur.endsWith(text!), true);
        }
      }
    }
  });
});

describe('formatRFC3339Nano', () => {
  it('stamps lines as formatRFC3339Nano does, also within one second and across seconds', () => {
    const times = [
      1_700_000_000_999_999_999n,
      1_700_000_001_000_000_000n,
      1_700_000_001_000_000_100n,
      1_700_000_001_500_000_000n,
      1_700_000_061_000_000_001n,
    ];
    let i = 0;
    const out: Buffer[] = [];
    const w = new CriLogLineWriter(
      'stdout',
      0,
      (l) => out.push(l),
      () => times[i++]!,
    );
    w.write(Buffer.from('a\nb\nc\nd\ne\n'));
    assert.deepEqual(
      splitLines(out).map((l) => l.toString().split(' ')[0]),
      times.map(formatRFC3339Nano),
    );
  });

  it('formats as Go does: trailing zeros of the fraction dropped, Z for UTC', () => {
    if (new Date(0).getTimezoneOffset() !== 0 || process.env.TZ) {
      // The zone is the machine's; the fraction rules are checked with the offset stripped.
      const s = formatRFC3339Nano(1_700_000_000_123_456_789n);
      assert.match(s, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.123456789(Z|[+-]\d\d:\d\d)$/);
      return;
    }
    assert.equal(formatRFC3339Nano(1_700_000_000_123_456_789n), '2023-11-14T22:13:20.123456789Z');
    assert.equal(formatRFC3339Nano(1_700_000_000_120_000_000n), '2023-11-14T22:13:20.12Z');
    assert.equal(formatRFC3339Nano(1_700_000_000_000_000_000n), '2023-11-14T22:13:20Z');
    assert.equal(formatRFC3339Nano(1_700_000_000_000_000_001n), '2023-11-14T22:13:20.000000001Z');
  });

  it('writes the local zone as ±hh:mm, as Go does for time.Now()', () => {
    const saved = process.env.TZ;
    try {
      // Node rereads the zone when TZ is assigned.
      process.env.TZ = 'Asia/Kolkata';
      assert.equal(formatRFC3339Nano(1_700_000_000_500_000_000n), '2023-11-15T03:43:20.5+05:30');
      process.env.TZ = 'America/St_Johns';
      assert.equal(formatRFC3339Nano(1_700_000_000_000_000_000n), '2023-11-14T18:43:20-03:30');
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});
