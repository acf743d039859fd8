import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  open,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { binaryIO, logFile, nullIO, withStreams } from './index.js';

/** What the shim does with a process's FIFOs, done by hand: open, copy, close. */
function openAsync(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) =>
    open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

function sink(): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  return Object.assign(w, { text: () => Buffer.concat(chunks).toString() });
}

describe('cio', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cio-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('makes FIFOs in a directory of their own, copies both ways, and removes them', async () => {
    const out = sink();
    const err = sink();
    const input = new PassThrough();
    const io = await withStreams(input, out, err, { fifoDir: dir })('c1');
    const { stdin, stdout, stderr, terminal } = io.config;
    assert.equal(terminal, false);
    for (const p of [stdin, stdout, stderr]) {
      assert.ok(statSync(p).isFIFO(), p);
      assert.equal(statSync(p).mode & 0o777, 0o600);
    }
    assert.match(stdout, /\/c1-[0-9a-f]+\/c1-stdout$/);

    // The "shim": writer ends of stdout and stderr, reader end of stdin.
    const wOut = await openAsync(stdout, constants.O_WRONLY);
    const wErr = await openAsync(stderr, constants.O_WRONLY);
    const rIn = await openAsync(stdin, constants.O_RDONLY);
    writeSync(wOut, 'out\n');
    writeSync(wErr, 'err\n');
    closeSync(wOut);
    closeSync(wErr);
    await io.wait();
    assert.equal(out.text(), 'out\n');
    assert.equal(err.text(), 'err\n');

    input.end('in\n');
    await io.stdinEnded;
    assert.equal(readFileSync(rIn, 'utf8'), 'in\n');
    closeSync(rIn);

    await io.close();
    assert.equal(existsSync(join(stdout, '..')), false);
  });

  it('drains the output stream it was not given (the runc shim opens both)', async () => {
    const out = sink();
    const io = await withStreams(undefined, out, undefined, { fifoDir: dir })('c2');
    assert.equal(io.config.stdin, '');
    assert.notEqual(io.config.stderr, '');
    const wOut = await openAsync(io.config.stdout, constants.O_WRONLY);
    const wErr = await openAsync(io.config.stderr, constants.O_WRONLY);
    writeSync(wErr, 'dropped\n');
    writeSync(wOut, 'kept\n');
    closeSync(wOut);
    closeSync(wErr);
    await io.wait();
    assert.equal(out.text(), 'kept\n');
    await io.close();
  });

  it('has no stderr FIFO on a terminal', async () => {
    const io = await withStreams(new PassThrough(), sink(), sink(), {
      terminal: true,
      fifoDir: dir,
    })('c3');
    assert.equal(io.config.terminal, true);
    assert.equal(io.config.stderr, '');
    assert.notEqual(io.config.stdout, '');
    io.cancel();
    await io.wait();
    await io.close();
  });

  it('cancel completes the opens of a process that never started, and close leaves nothing', async () => {
    const before = readdirSync(dir).length;
    const io = await withStreams(new PassThrough(), sink(), sink(), { fifoDir: dir })('c4');
    io.cancel();
    await io.wait();
    await io.close();
    assert.equal(readdirSync(dir).length, before);
  });

  it('keeps the output of a shim whose FIFO open meets a cancel (the process already exited)', async () => {
    // The "shim": a writer already waiting in its open, with output to give.
    const out = sink();
    const io = await withStreams(undefined, out, sink(), { fifoDir: dir })('c6');
    const shim = spawn('sh', ['-c', `exec printf 'last words' > '${io.config.stdout}'`]);
    const shimDone = new Promise((resolve) => shim.once('close', resolve));
    // Without letting the event loop run: the shim's open meets the client's
    // (in the pool), it writes and exits; the client cancels (it saw the exit)
    // before its open's callback has run.
    const exited = () => {
      try {
        return readFileSync(`/proc/${shim.pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 10_000;
    while (!exited() && Date.now() < deadline) {
      // busy: the point is that no callback runs meanwhile
    }
    assert.ok(exited(), 'the shim wrote and exited');
    io.cancel();
    await io.wait();
    await shimDone;
    await io.close();
    assert.equal(out.text(), 'last words');
  });

  it('passes URIs for null IO, log files and logging binaries', async () => {
    assert.deepEqual((await nullIO()('x')).config, {
      stdin: '',
      stdout: '',
      stderr: '',
      terminal: false,
    });
    const log = (await logFile('/var/log/app log.txt')('x')).config;
    assert.equal(log.stdout, 'file:///var/log/app%20log.txt');
    assert.equal(log.stderr, log.stdout);
    assert.throws(() => logFile('relative.log'), /absolute/);
    const bin = (await binaryIO('/usr/bin/logger', { tag: 'a' })('x')).config;
    assert.equal(bin.stdout, 'binary:///usr/bin/logger?tag=a');
  });

  it('refuses a FIFO directory it cannot make', async () => {
    const file = join(dir, 'not-a-dir');
    closeSync(openSync(file, 'w'));
    await assert.rejects(withStreams(undefined, sink(), sink(), { fifoDir: file })('c5'));
  });
});
