import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Task } from '../../core/tasks/index.js';
import type { ShimManager } from '../../runtime/v2/manager.js';
import {
  busyboxRootfs,
  listenForwardedEvents,
  realShimSkip,
  removeShimTestDir,
  runcDefaultSpec,
  shimManagerIn,
  stopShims,
} from '../../runtime/v2/testing/real-shim.js';
import type { TtrpcServer } from '../../ttrpc/index.js';
import { ContainerIO, type ContainerIOOptions } from './container-io.js';
import { execSync, runExec } from './exec.js';
import { logLines, openFilesUnder, sink, until as untilWithin } from './testing/streams.js';

/**
 * Container and exec IO against the stock containerd-shim-runc-v2 and runc,
 * through berth's task manager, as the CRI plugin drives them: the CRI log of
 * a container's output, attach with stdin_once, a restart of the reading
 * side, Exec with stdin, ExecSync with its timeout, and no fd or FIFO left
 * after many execs. Root only.
 */
const NS = 'berth-cri-io';

/** Polls every 10 ms for up to 10 s: the shim and runc are slower than the in-process tests. */
const until = (what: string, cond: () => boolean, ms = 10_000) => untilWithin(what, cond, ms, 10);

const proc = (args: string[]) => ({
  args,
  cwd: '/',
  env: ['PATH=/bin'],
  user: { uid: 0, gid: 0 },
});

describe('cri io with the real runc shim', {
  skip: realShimSkip(),
}, () => {
  let dir: string;
  let rootfs: string;
  let baseSpec: Record<string, any>;
  let events: TtrpcServer;
  let manager: ShimManager;
  const ctx: OpContext = { namespace: NS, signal: new AbortController().signal, log: nullLogger };
  const ios: ContainerIO[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cri-io-root-'));
    rootfs = join(dir, 'rootfs');
    busyboxRootfs(rootfs, ['sh', 'sleep', 'echo', 'cat', 'true', 'tty', 'stty']);
    baseSpec = runcDefaultSpec(dir);
    events = await listenForwardedEvents(dir);
    manager = await shimManagerIn(dir);
  });

  after(async () => {
    await stopShims(ctx, dir, [manager]);
    for (const io of ios) await io.close().catch(() => {});
    await events.close();
    removeShimTestDir(dir);
  });

  /** Creates the container's IO, starts logging, creates and starts its task (StartContainer's order). */
  async function startContainer(
    id: string,
    args: string[],
    ioOpts: Omit<ContainerIOOptions, 'log'>,
    logPath?: string,
  ): Promise<{ task: Task; cio: ContainerIO; ioDir: string }> {
    const ioDir = join(dir, 'cri-state', 'containers', id, 'io');
    const cio = await ContainerIO.create(ioDir, ioOpts);
    ios.push(cio);
    await cio.startLogging(logPath);
    const spec = structuredClone(baseSpec);
    spec.process.args = args;
    spec.process.terminal = ioOpts.tty;
    spec.root = { path: 'rootfs', readonly: true };
    const { task } = await manager.create(ctx, id, {
      spec: {
        typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
        value: Buffer.from(JSON.stringify(spec)),
      },
      runtime: 'io.containerd.runc.v2',
      rootfs: [{ type: 'bind', source: rootfs, options: ['rbind', 'ro'] }],
      io: cio.io,
    });
    await task.start(ctx);
    return { task, cio, ioDir };
  }

  /** Kills the task, waits for its output to be copied, deletes it and removes its IO. */
  async function stopContainer(task: Task, cio: ContainerIO): Promise<number> {
    const exited = task.wait(ctx);
    await task.kill(ctx, 9, true).catch(() => {});
    const exit = await exited;
    await cio.cancel();
    await cio.wait();
    await manager.delete(ctx, task.id);
    await cio.close();
    return exit.status;
  }

  it('writes a container stdout and stderr into its CRI log, the last partial line as P', async () => {
    const logPath = join(dir, 'logs', 'pod1', 'c1', '0.log');
    const { task, cio, ioDir } = await startContainer(
      'c1',
      [
        'sh',
        '-c',
        'echo out1; echo err1 >&2; printf "a\\r\\nb"; echo; printf partial; exec sleep 1000',
      ],
      { tty: false, stdin: false, stdinOnce: false },
      logPath,
    );
    // `partial` has no newline yet: it is held until the output ends.
    await until('the log lines', () => logLines(logPath).length === 4);
    assert.equal(await stopContainer(task, cio), 137);
    const lines = logLines(logPath);
    assert.deepEqual(
      lines.filter((l) => l.startsWith('stdout')),
      ['stdout F out1', 'stdout F a', 'stdout F b', 'stdout P partial'],
    );
    assert.deepEqual(
      lines.filter((l) => l.startsWith('stderr')),
      ['stderr F err1'],
    );
    const ts = readFileSync(logPath, 'utf8').split(' ')[0]!;
    assert.match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/);
    assert.equal(existsSync(ioDir), false, 'the FIFOs are removed with the container');
  });

  it('logs a TTY container on stdout, without the terminal \\r', async () => {
    const logPath = join(dir, 'logs', 'pod1', 'c7', '0.log');
    const { task, cio } = await startContainer(
      'c7',
      ['sh', '-c', 'echo on-tty; echo also >&2; exec sleep 1000'],
      { tty: true, stdin: false, stdinOnce: false },
      logPath,
    );
    await until('the log lines', () => logLines(logPath).length === 2);
    await stopContainer(task, cio);
    assert.deepEqual(logLines(logPath), ['stdout F on-tty', 'stdout F also']);
  });

  it('attach with stdin_once: input reaches the container, its end is the container EOF', async () => {
    const logPath = join(dir, 'logs', 'pod1', 'c2', '0.log');
    const { task, cio } = await startContainer(
      'c2',
      ['cat'],
      { tty: false, stdin: true, stdinOnce: true },
      logPath,
    );
    const input = new PassThrough();
    const out = sink();
    const exited = task.wait(ctx);
    const attached = cio.attach({
      stdin: input,
      stdout: out,
      stderr: sink(),
      tty: false,
      closeStdin: () => task.closeIO(ctx),
    });
    input.write('hello\n');
    await until('the echo', () => out.text() === 'hello\n');
    input.end('bye\n');
    // cat reads EOF and exits 0: stdin was closed through CloseIO.
    assert.equal((await exited).status, 0);
    await attached;
    await cio.wait();
    assert.equal(out.text(), 'hello\nbye\n');
    assert.deepEqual(logLines(logPath), ['stdout F hello', 'stdout F bye']);
    await manager.delete(ctx, 'c2');
    await cio.close();
  });

  it('keeps logging across a restart of the reading side, losing no line', async () => {
    const logPath = join(dir, 'logs', 'pod1', 'c3', '0.log');
    const opts = { tty: false, stdin: false, stdinOnce: false };
    const { task, cio, ioDir } = await startContainer(
      'c3',
      ['sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.01; done'],
      opts,
      logPath,
    );
    await until('some lines', () => logLines(logPath).length >= 5);
    await cio.release();
    await sleep(300); // the container goes on writing into the pipe
    const again = await ContainerIO.create(ioDir, opts);
    ios.push(again);
    await again.startLogging(logPath);
    const n = logLines(logPath).length;
    await until('lines after the restart', () => logLines(logPath).length >= n + 20);
    await stopContainer(task, again);
    // Every line from line0 on, in order: nothing lost at the restart. A line
    // the restart cut in two is a P part and the F rest.
    const lines: string[] = [];
    let held = '';
    for (const l of logLines(logPath)) {
      const [stream, tag, ...text] = l.split(' ');
      assert.equal(stream, 'stdout');
      held += text.join(' ');
      if (tag === 'F') {
        lines.push(held);
        held = '';
      }
    }
    assert.ok(lines.length >= n + 20);
    assert.deepEqual(
      lines,
      lines.map((_, i) => `line${i}`),
    );
  });

  it('runs an exec with stdin to stdout, and answers its exit code', async () => {
    const { task, cio, ioDir } = await startContainer('c4', ['sleep', '1000'], {
      tty: false,
      stdin: false,
      stdinOnce: false,
    });
    const input = new PassThrough();
    const out = sink();
    const err = sink();
    input.end('ping\n');
    const code = await runExec(task, 'e1', proc(['sh', '-c', 'cat; echo done >&2; exit 3']), {
      ctx,
      dir: ioDir,
      stdin: input,
      stdout: out,
      stderr: err,
      tty: false,
    });
    assert.equal(code, 3);
    assert.equal(out.text(), 'ping\n');
    assert.equal(err.text(), 'done\n');
    await assert.rejects(task.process(ctx, 'e1'), { kind: 'not_found' });

    // With a TTY: one stream, a terminal, resized as the client asks.
    const ttyOut = sink();
    const ttyCode = await runExec(task, 'e2', proc(['sh', '-c', 'tty; sleep 0.5; stty size']), {
      ctx,
      dir: ioDir,
      stdout: ttyOut,
      tty: true,
      resize: (async function* () {
        yield { width: 100, height: 30 };
      })(),
    });
    assert.equal(ttyCode, 0);
    assert.match(ttyOut.text(), /^\/dev\/pts\/\d+\r\n30 100\r\n$/);

    const r = await execSync(task, 'e3', proc(['sh', '-c', 'echo o; echo e >&2; exit 7']), {
      ctx,
      dir: ioDir,
    });
    assert.deepEqual(
      { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() },
      { code: 7, out: 'o\n', err: 'e\n' },
    );
    const capped = await execSync(
      task,
      'e4',
      proc(['sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo 0123456789; i=$((i+1)); done']),
      { ctx, dir: ioDir, maxOutput: 100 },
    );
    assert.equal(capped.exitCode, 0);
    assert.equal(capped.stdout.length, 100, 'output past the cap is dropped');

    // An exec that cannot start fails and leaves no process and no FIFOs.
    await assert.rejects(
      runExec(task, 'bad', proc(['/no/such/binary']), {
        ctx,
        dir: ioDir,
        stdout: sink(),
        tty: false,
      }),
      /no such file|not found|exec/i,
    );
    await assert.rejects(task.process(ctx, 'bad'), { kind: 'not_found' });
    assert.deepEqual(readdirSync(ioDir).sort(), ['stderr', 'stdout']);
    await stopContainer(task, cio);
  });

  it('kills an ExecSync past its timeout and fails as containerd does', async () => {
    const { task, cio, ioDir } = await startContainer('c5', ['sleep', '1000'], {
      tty: false,
      stdin: false,
      stdinOnce: false,
    });
    const start = Date.now();
    await assert.rejects(
      execSync(task, 'slow', proc(['sh', '-c', 'echo started; exec sleep 100']), {
        ctx,
        dir: ioDir,
        timeoutMs: 1000,
      }),
      (err: Error & { kind?: string }) => {
        assert.equal(err.kind, 'deadline_exceeded');
        assert.equal(err.message, 'timeout 1s exceeded: context deadline exceeded');
        return true;
      },
    );
    const took = Date.now() - start;
    assert.ok(took >= 1000 && took < 5000, `took ${took} ms`);
    await assert.rejects(task.process(ctx, 'slow'), { kind: 'not_found' });
    assert.deepEqual(readdirSync(ioDir).sort(), ['stderr', 'stdout'], 'no exec FIFOs left');
    // The container still runs.
    assert.equal((await task.state(ctx)).status, 'running');
    await stopContainer(task, cio);
  });

  it('leaves no fd and no FIFO behind after 40 exec cycles', async () => {
    const { task, cio, ioDir } = await startContainer('c6', ['sleep', '1000'], {
      tty: false,
      stdin: false,
      stdinOnce: false,
    });
    // One cycle first: the shim connection and the pool's fds are not leaks.
    await execSync(task, 'warm', proc(['true']), { ctx, dir: ioDir });
    const before = openFilesUnder(dir);
    const start = Date.now();
    for (let i = 0; i < 20; i++) {
      const input = new PassThrough();
      input.end(`n${i}\n`);
      const out = sink();
      const code = await runExec(task, `x${i}`, proc(['sh', '-c', `cat; exit ${i % 4}`]), {
        ctx,
        dir: ioDir,
        stdin: input,
        stdout: out,
        tty: false,
      });
      assert.equal(code, i % 4);
      assert.equal(out.text(), `n${i}\n`);
    }
    const perExec = (Date.now() - start) / 20;
    const syncStart = Date.now();
    for (let i = 0; i < 20; i++) {
      assert.equal(
        (await execSync(task, `s${i}`, proc(['true']), { ctx, dir: ioDir })).exitCode,
        0,
      );
    }
    const perSync = (Date.now() - syncStart) / 20;
    await sleep(50);
    assert.deepEqual(openFilesUnder(dir), before, 'fds after 40 execs');
    assert.deepEqual(readdirSync(ioDir).sort(), ['stderr', 'stdout']);
    console.log(
      `# exec with stdin: ${perExec.toFixed(1)} ms each; ExecSync of true: ${perSync.toFixed(1)} ms each`,
    );
    await stopContainer(task, cio);
  });
});
