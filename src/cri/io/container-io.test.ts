import assert from 'node:assert/strict';
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerIO } from './container-io.js';
import { openFifoReader } from './fifo.js';
import { logLines, openFilesUnder, sink, until } from './testing/streams.js';

/** The shim's writing end of an output FIFO, done by hand. */
function shimWriter(path: string) {
  const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  return {
    write: (s: string | Buffer) => writeSync(fd, typeof s === 'string' ? Buffer.from(s) : s),
    close: () => closeSync(fd),
  };
}

/** A client that never reads: its writes are never acknowledged. */
function stuck(): Writable {
  return new Writable({ highWaterMark: 1024, write() {} });
}

describe('ContainerIO', () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-cri-io-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  const newDir = () => join(root, `c${++n}`, 'io');

  // libc, the pool's threads and their fds are loaded on first use, not counted as leaks.
  before(async () => {
    const warm = await ContainerIO.create(newDir(), { tty: false, stdin: true, stdinOnce: false });
    await warm.startLogging(join(root, 'warm.log'));
    await warm.close();
  });

  it('makes the FIFOs the config asks for, berthd-only, and names them for the shim', async () => {
    const before = openFilesUnder(root);
    const dir = newDir();
    const cio = await ContainerIO.create(dir, { tty: false, stdin: true, stdinOnce: false });
    assert.deepEqual(cio.io, {
      stdin: join(dir, 'stdin'),
      stdout: join(dir, 'stdout'),
      stderr: join(dir, 'stderr'),
      terminal: false,
    });
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const p of [cio.io.stdin, cio.io.stdout, cio.io.stderr]) {
      const st = statSync(p);
      assert.ok(st.isFIFO());
      assert.equal(st.mode & 0o777, 0o600);
    }
    await cio.close();
    assert.equal(existsSync(dir), false);

    const tty = await ContainerIO.create(newDir(), { tty: true, stdin: false, stdinOnce: false });
    assert.equal(tty.io.stdin, '');
    assert.equal(tty.io.stderr, '');
    assert.equal(tty.io.terminal, true);
    await tty.close();
    assert.deepEqual(openFilesUnder(root), before, 'no fd left open');
  });

  it('refuses a directory where a FIFO should be, leaving nothing behind', async () => {
    const dir = newDir();
    mkdirSync(join(dir, 'stdout'), { recursive: true });
    const before = openFilesUnder(root);
    await assert.rejects(
      ContainerIO.create(dir, { tty: false, stdin: false, stdinOnce: false }),
      /is not a FIFO/,
    );
    assert.deepEqual(openFilesUnder(root), before);
  });

  it('writes both streams into the CRI log and ends when the shim closes them', async () => {
    const dir = newDir();
    const logPath = join(root, 'logs', 'pod', 'c_0.log');
    const cio = await ContainerIO.create(dir, { tty: false, stdin: false, stdinOnce: false });
    await cio.startLogging(logPath);
    assert.equal(statSync(logPath).mode & 0o777, 0o640);
    const out = shimWriter(cio.io.stdout);
    const err = shimWriter(cio.io.stderr);
    out.write('one\ntw');
    err.write('oops\r\n');
    await until('stderr line', () => logLines(logPath).includes('stderr F oops'));
    out.write('o\nunterminated');
    out.close();
    err.close();
    await cio.wait();
    const lines = logLines(logPath);
    assert.deepEqual(
      lines.filter((l) => l.startsWith('stdout')),
      ['stdout F one', 'stdout F two', 'stdout P unterminated'],
    );
    const ts = readFileSync(logPath, 'utf8').split(' ')[0]!;
    assert.ok(!Number.isNaN(Date.parse(ts)), `timestamp ${ts}`);
    await cio.close();
  });

  it('reopens the log at its path after kubelet renamed it', async () => {
    const dir = newDir();
    const logPath = join(root, 'rotate', '0.log');
    const cio = await ContainerIO.create(dir, { tty: true, stdin: false, stdinOnce: false });
    await cio.startLogging(logPath);
    const out = shimWriter(cio.io.stdout);
    out.write('before\n');
    await until('first line', () => logLines(logPath).length === 1);
    renameSync(logPath, `${logPath}.20261205-150000`);
    out.write('still old\n');
    await until(
      'line in the renamed file',
      () => logLines(`${logPath}.20261205-150000`).length === 2,
    );
    await cio.reopenLog();
    out.write('after\n');
    await until('line in the new file', () => logLines(logPath).length === 1);
    assert.deepEqual(logLines(logPath), ['stdout F after']);
    assert.deepEqual(logLines(`${logPath}.20261205-150000`), [
      'stdout F before',
      'stdout F still old',
    ]);
    out.close();
    await cio.wait();
    await cio.close();
    await assert.rejects(cio.reopenLog(), { kind: 'failed_precondition' });
  });

  it('fans output out to attachers; a client that does not read is dropped and stalls nobody', async () => {
    const dir = newDir();
    const logPath = join(root, 'fanout.log');
    const cio = await ContainerIO.create(dir, {
      tty: false,
      stdin: false,
      stdinOnce: false,
      maxAttachBuffer: 64 * 1024,
    });
    await cio.startLogging(logPath);
    const fast = sink();
    const fastErr = sink();
    const fastDone = cio.attach({ stdout: fast, stderr: fastErr, tty: false });
    // Settled while the writes go on: handled at once.
    const slowDone = cio.attach({ stdout: stuck(), tty: false }).then(
      () => assert.fail('the slow client was not dropped'),
      (err: unknown) => err,
    );
    const out = shimWriter(cio.io.stdout);
    const line = `${'x'.repeat(1023)}\n`;
    const total = 512; // 512 KiB: the slow client's 64 KiB bound is passed early
    let written = 0;
    // The FIFO holds 64 KiB; write as it drains (EAGAIN: try again).
    while (written < total) {
      try {
        out.write(line);
        written++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        await sleep(1);
      }
    }
    assert.equal(((await slowDone) as { kind: string }).kind, 'resource_exhausted');
    shimWriter(cio.io.stderr).close();
    out.close();
    await cio.wait();
    await fastDone;
    assert.equal(fast.text().length, total * line.length, 'the reading client got everything');
    assert.equal(logLines(logPath).length, total, 'the log got every line');
    await cio.close();
  });

  it('ends an attach at once when the output has ended', async () => {
    const cio = await ContainerIO.create(newDir(), { tty: true, stdin: false, stdinOnce: false });
    await cio.startLogging();
    shimWriter(cio.io.stdout).close();
    await cio.wait();
    await cio.attach({ stdout: sink(), tty: true });
    await cio.close();
  });

  it('stdin_once: the first attacher ending its stdin closes the container stdin', async () => {
    const cio = await ContainerIO.create(newDir(), { tty: false, stdin: true, stdinOnce: true });
    await cio.startLogging();
    // The shim's side of stdin.
    const shimIn = await openFifoReader(cio.io.stdin);
    const got: Buffer[] = [];
    shimIn.on('data', (c: Buffer) => got.push(c));
    let closed = 0;
    const input = new PassThrough();
    const output = sink();
    const attached = cio.attach({
      stdin: input,
      stdout: output,
      tty: false,
      closeStdin: async () => {
        closed++;
      },
    });
    input.write('hello ');
    input.end('stdin\n');
    await until('closeStdin', () => closed === 1);
    // Written, and the writer closed, before CloseIO: the shim reads it all.
    await until('the input', () => Buffer.concat(got).toString() === 'hello stdin\n');
    // The output goes on after stdin has ended.
    const out = shimWriter(cio.io.stdout);
    out.write('still attached\n');
    await until('output after stdin ended', () => output.text() === 'still attached\n');
    // A later attacher's stdin goes nowhere: the container's stdin is closed.
    const late = new PassThrough();
    const lateDone = cio.attach({ stdin: late, tty: false });
    await lateDone;
    out.close();
    shimWriter(cio.io.stderr).close();
    await attached;
    assert.equal(closed, 1);
    shimIn.destroy();
    await cio.close();
  });

  it('without stdin_once, an attacher ending its stdin detaches and leaves stdin open', async () => {
    const cio = await ContainerIO.create(newDir(), { tty: false, stdin: true, stdinOnce: false });
    await cio.startLogging();
    const shimIn = await openFifoReader(cio.io.stdin);
    const got: Buffer[] = [];
    shimIn.on('data', (c: Buffer) => got.push(c));
    let closed = 0;
    const closeStdin = async () => {
      closed++;
    };
    for (const word of ['first ', 'second']) {
      const input = new PassThrough();
      const done = cio.attach({ stdin: input, stdout: sink(), tty: false, closeStdin });
      input.end(word);
      await done;
    }
    await until('both inputs', () => Buffer.concat(got).toString() === 'first second');
    assert.equal(closed, 0);
    shimIn.destroy();
    await cio.close();
  });

  it('an attach whose stdin the shim does not read still gets the output', async () => {
    const cio = await ContainerIO.create(newDir(), {
      tty: false,
      stdin: true,
      stdinOnce: true,
      stdinOpenTimeoutMs: 100,
    });
    await cio.startLogging();
    await assert.rejects(cio.attach({ stdin: new PassThrough(), tty: false }), {
      kind: 'unavailable',
    });
    const out = sink();
    const attached = cio.attach({ stdin: new PassThrough(), stdout: out, tty: false });
    await sleep(200);
    const w = shimWriter(cio.io.stdout);
    w.write('output\n');
    await until('the output', () => out.text() === 'output\n');
    w.close();
    shimWriter(cio.io.stderr).close();
    await attached;
    await cio.close();
  });

  it('passes resize events to the terminal while attached', async () => {
    const cio = await ContainerIO.create(newDir(), { tty: true, stdin: false, stdinOnce: false });
    await cio.startLogging();
    const sizes: string[] = [];
    async function* resize() {
      yield { width: 80, height: 24 };
      yield { width: 120, height: 40 };
    }
    const out = sink();
    const done = cio.attach({
      stdout: out,
      tty: true,
      resize: resize(),
      resizePty: async (s) => {
        sizes.push(`${s.width}x${s.height}`);
      },
    });
    await until('resizes', () => sizes.length === 2);
    assert.deepEqual(sizes, ['80x24', '120x40']);
    shimWriter(cio.io.stdout).close();
    await done;
    await cio.close();
  });

  it('cancel: a container that exited while berthd was down ends its output after a restart', async () => {
    const before = openFilesUnder(root);
    const dir = newDir();
    const logPath = join(root, 'exited-while-down.log');
    const opts = { tty: false, stdin: false, stdinOnce: false };
    const first = await ContainerIO.create(dir, opts);
    await first.startLogging(logPath);
    const out = shimWriter(first.io.stdout);
    const err = shimWriter(first.io.stderr);
    out.write('before\n');
    await until('first line', () => logLines(logPath).length === 1);
    await first.release();
    out.close(); // the container exits, the shim closes its ends
    err.close();
    const second = await ContainerIO.create(dir, opts);
    await second.startLogging(logPath);
    await sleep(50);
    let ended = false;
    void second.wait().then(() => {
      ended = true;
    });
    await sleep(50);
    assert.equal(ended, false, 'no writer came and went: no end seen');
    await second.cancel();
    await second.wait();
    await second.close();
    assert.deepEqual(openFilesUnder(root), before);
  });

  it('cancel does not cut short a shim still writing', async () => {
    const cio = await ContainerIO.create(newDir(), { tty: true, stdin: false, stdinOnce: false });
    const out = sink();
    await cio.startLogging();
    const attached = cio.attach({ stdout: out, tty: true });
    const w = shimWriter(cio.io.stdout);
    w.write('one\n');
    await cio.cancel();
    w.write('two\n');
    await until('both', () => out.text() === 'one\ntwo\n');
    w.close();
    await cio.wait();
    await attached;
    await cio.close();
  });

  it('goes on from the same FIFOs after a restart, losing nothing the pipe held', async () => {
    const before = openFilesUnder(root);
    const dir = newDir();
    const logPath = join(root, 'restart.log');
    const opts = { tty: false, stdin: false, stdinOnce: false };
    const first = await ContainerIO.create(dir, opts);
    await first.startLogging(logPath);
    const out = shimWriter(first.io.stdout);
    const err = shimWriter(first.io.stderr);
    // The shim also holds a reader of its own, so the pipe outlives berthd's end.
    const shimOwnReader = openSync(first.io.stdout, constants.O_RDONLY | constants.O_NONBLOCK);
    out.write('before restart\n');
    await until('first line', () => logLines(logPath).length === 1);
    await first.release();
    assert.ok(existsSync(first.io.stdout), 'release keeps the FIFOs');
    out.write('while down\n');
    // An exec cut short by the stop left its FIFO directory.
    mkdirSync(join(dir, 'exec-AbC123'));
    const second = await ContainerIO.create(dir, opts);
    assert.deepEqual(readdirSync(dir).sort(), ['stderr', 'stdout'], 'stale exec FIFOs removed');
    await second.startLogging(logPath);
    out.write('after restart\n');
    await until('three lines', () => logLines(logPath).length === 3);
    assert.deepEqual(logLines(logPath), [
      'stdout F before restart',
      'stdout F while down',
      'stdout F after restart',
    ]);
    out.close();
    err.close();
    closeSync(shimOwnReader);
    await second.wait();
    await second.close();
    assert.equal(existsSync(dir), false);
    assert.deepEqual(openFilesUnder(root), before, 'no fd left open');
  });
});
