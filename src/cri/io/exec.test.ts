import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { notFound } from '../../core/errdefs/index.js';
import { nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type {
  Exit,
  Process,
  Task,
  ExecOptions as TaskExecOptions,
} from '../../core/tasks/index.js';
import { execSync, MAX_EXEC_SYNC_OUTPUT, runExec } from './exec.js';
import { openFifoReader } from './fifo.js';
import { sink } from './testing/streams.js';

/**
 * What the shim does with an exec, done in process: `script` gets the exec's
 * FIFO paths and writes its output; the exec exits when the script says, or
 * with 137 when killed.
 */
type Script = (io: {
  write(stream: 'stdout' | 'stderr', s: string): void;
  closeOutput(): void;
  stdin(): Promise<string>;
  exit(code: number): void;
}) => void;

class FakeExec implements Process {
  calls: string[] = [];
  private fds: Partial<Record<'stdout' | 'stderr', number>> = {};
  private exited: Exit | undefined;
  private waiters: ((e: Exit) => void)[] = [];
  /** What the exec read from stdin, to its end: the shim opens stdin when the exec is created. */
  private readonly stdinRead: Promise<string>;
  constructor(
    readonly id: string,
    private readonly io: TaskExecOptions,
    private readonly script: Script,
  ) {
    this.stdinRead =
      io.stdin === ''
        ? Promise.resolve('')
        : openFifoReader(io.stdin).then(
            (r) =>
              new Promise((resolve) => {
                const chunks: Buffer[] = [];
                r.on('data', (c: Buffer) => chunks.push(c));
                r.once('close', () => resolve(Buffer.concat(chunks).toString()));
              }),
          );
    this.stdinRead.catch(() => {});
  }
  async state(): Promise<never> {
    throw new Error('unused');
  }
  async start(): Promise<number> {
    this.calls.push('start');
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.io[s] !== '')
        this.fds[s] = openSync(this.io[s], constants.O_WRONLY | constants.O_NONBLOCK);
    }
    this.script({
      write: (stream, s) => writeSync(this.fds[stream]!, s),
      closeOutput: () => this.closeOutput(),
      stdin: async () => {
        // CloseIO: the shim closes its own writer; the reader reads to the end.
        await this.closedIO;
        return this.stdinRead;
      },
      exit: (code) => this.exit(code),
    });
    return 4242;
  }
  private markClosedIO: () => void = () => {};
  private readonly closedIO = new Promise<void>((resolve) => {
    this.markClosedIO = resolve;
  });
  private closeOutput(): void {
    for (const fd of Object.values(this.fds)) closeSync(fd!);
    this.fds = {};
  }
  private exit(status: number): void {
    if (this.exited) return;
    this.exited = { pid: 4242, status, exitedAt: 1n };
    for (const w of this.waiters) w(this.exited);
  }
  async kill(_ctx: OpContext, signal: number): Promise<void> {
    this.calls.push(`kill ${signal}`);
    if (this.exited) throw notFound(`process ${this.id}`);
    this.exit(128 + signal);
    this.closeOutput();
  }
  wait(): Promise<Exit> {
    if (this.exited) return Promise.resolve(this.exited);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  async resizePty(_ctx: OpContext, w: number, h: number): Promise<void> {
    this.calls.push(`resize ${w}x${h}`);
  }
  async closeIO(): Promise<void> {
    this.calls.push('closeIO');
    this.markClosedIO();
  }
  async delete(): Promise<Exit> {
    this.calls.push('delete');
    this.closeOutput();
    return this.exited ?? { pid: 4242, status: 0, exitedAt: 0n };
  }
}

function fakeTask(script: Script): Task & { execs: FakeExec[] } {
  const execs: FakeExec[] = [];
  const task = {
    execs,
    async exec(_ctx: OpContext, execId: string, opts: TaskExecOptions) {
      await sleep(0);
      const spec = JSON.parse(opts.spec.value.toString());
      assert.equal(opts.spec.typeUrl, 'types.containerd.io/opencontainers/runtime-spec/1/Process');
      assert.equal(spec.terminal, opts.terminal);
      const e = new FakeExec(execId, opts, script);
      execs.push(e);
      return e;
    },
  };
  return task as unknown as Task & { execs: FakeExec[] };
}

const ctx = (): OpContext => ({
  namespace: 'k8s.io',
  signal: new AbortController().signal,
  log: nullLogger,
});
const spec = { args: ['x'], cwd: '/' };

describe('runExec and execSync', () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-cri-exec-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  const ioDir = () => {
    const d = join(root, `c${++n}`, 'io');
    mkdirSync(d, { recursive: true });
    return d;
  };

  it('answers the exit code only once the output that came after the exit is copied', async () => {
    const dir = ioDir();
    const task = fakeTask((io) => {
      io.write('stdout', 'early\n');
      io.exit(3);
      setTimeout(() => {
        io.write('stdout', 'late\n');
        io.write('stderr', 'err\n');
        io.closeOutput();
      }, 50);
    });
    const r = await execSync(task, 'e1', spec, { ctx: ctx(), dir });
    assert.deepEqual(
      { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() },
      { code: 3, out: 'early\nlate\n', err: 'err\n' },
    );
    assert.deepEqual(task.execs[0]!.calls, ['start', 'delete']);
    assert.deepEqual(readdirSync(dir), [], 'the exec FIFOs are removed');
  });

  it('copies stdin in and closes the exec stdin through CloseIO at its end', async () => {
    const dir = ioDir();
    const task = fakeTask((io) => {
      void io.stdin().then((s) => {
        io.write('stdout', s.toUpperCase());
        io.closeOutput();
        io.exit(0);
      });
    });
    const input = new PassThrough();
    const out = sink();
    input.end('hello');
    const code = await runExec(task, 'e2', spec, {
      ctx: ctx(),
      dir,
      stdin: input,
      stdout: out,
      tty: false,
    });
    assert.equal(code, 0);
    assert.equal(out.text(), 'HELLO');
    assert.deepEqual(task.execs[0]!.calls, ['start', 'closeIO', 'delete']);
  });

  it('kills an exec past its timeout with SIGKILL and fails with containerd text', async () => {
    const dir = ioDir();
    const task = fakeTask((io) => io.write('stdout', 'started\n'));
    const started = Date.now();
    await assert.rejects(
      execSync(task, 'e3', spec, { ctx: ctx(), dir, timeoutMs: 200 }),
      (err: Error & { kind?: string }) => {
        assert.equal(err.kind, 'deadline_exceeded');
        assert.equal(err.message, 'timeout 200ms exceeded: context deadline exceeded');
        return true;
      },
    );
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(task.execs[0]!.calls, ['start', 'kill 9', 'delete']);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('kills the exec when the request is canceled', async () => {
    const dir = ioDir();
    const task = fakeTask(() => {});
    const ac = new AbortController();
    const c = { ...ctx(), signal: ac.signal };
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(runExec(task, 'e4', spec, { ctx: c, dir, tty: false }), {
      kind: 'canceled',
    });
    assert.deepEqual(task.execs[0]!.calls, ['start', 'kill 9', 'delete']);
  });

  it('leaves no listener on the request signal, which outlives the exec', async () => {
    const dir = ioDir();
    const task = fakeTask((io) => {
      io.closeOutput();
      io.exit(0);
    });
    const c = ctx();
    for (let i = 0; i < 3; i++) await runExec(task, `l${i}`, spec, { ctx: c, dir, tty: false });
    assert.equal(getEventListeners(c.signal, 'abort').length, 0);
  });

  it('with a drain timeout, fails when a child holds the output open after the exit', async () => {
    const dir = ioDir();
    const task = fakeTask((io) => {
      io.write('stdout', 'x\n');
      io.exit(0); // the output stays open
    });
    await assert.rejects(
      execSync(task, 'e5', spec, { ctx: ctx(), dir, drainTimeoutMs: 100 }),
      /failed to drain exec process "e5" io in 100ms because io is still held by other processes/,
    );
    assert.ok(task.execs[0]!.calls.includes('delete'));
    assert.deepEqual(readdirSync(dir), []);
  });

  it('passes resize events to the exec terminal, with one output stream', async () => {
    const dir = ioDir();
    const task = fakeTask((io) => {
      setTimeout(() => {
        io.write('stdout', 'tty\n');
        io.closeOutput();
        io.exit(0);
      }, 50);
    });
    async function* sizes() {
      yield { width: 80, height: 25 };
    }
    const out = sink();
    assert.equal(
      await runExec(task, 'e6', spec, { ctx: ctx(), dir, stdout: out, tty: true, resize: sizes() }),
      0,
    );
    assert.equal(out.text(), 'tty\n');
    assert.deepEqual(task.execs[0]!.calls, ['start', 'resize 80x25', 'delete']);
  });

  it('leaves nothing when the exec cannot be created', async () => {
    const dir = ioDir();
    const task = {
      exec: async () => {
        throw notFound('container "gone"');
      },
    } as unknown as Task;
    await assert.rejects(runExec(task, 'e7', spec, { ctx: ctx(), dir, tty: false }), {
      kind: 'not_found',
    });
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(existsSync(dir), true);
  });

  it('caps ExecSync output at 16 MiB each, as containerd', () => {
    assert.equal(MAX_EXEC_SYNC_OUTPUT, 16 * 1024 * 1024);
  });
});
