/**
 * Test code only (never imported by the daemon): stand-ins for cri-io's
 * ContainerIO and runExec, enough to run containers through the real
 * TaskManager before the plugin's own IO lands. FIFOs are read through a
 * second, read-only descriptor while a read-write one keeps the shim's
 * open from blocking; log lines are written in the CRI format.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, constants, existsSync, mkdirSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { deadlineExceeded } from '../../../core/errdefs/index.js';
import type { OpContext } from '../../../core/namespaces/index.js';
import type { Task } from '../../../core/tasks/index.js';
import type { ContainerIO, CreateContainerIO, RunExec, StreamOptions } from '../deps.js';

interface FifoEnd {
  socket: Socket;
  hold: number | undefined;
}

function openFifo(path: string): FifoEnd {
  if (!existsSync(path)) execFileSync('mkfifo', ['-m', '0600', path]);
  const hold = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const socket = new Socket({ fd, readable: true, writable: false });
  return { socket, hold };
}

function release(end: FifoEnd): void {
  if (end.hold !== undefined) closeSync(end.hold);
  end.hold = undefined;
}

function criLines(stream: 'stdout' | 'stderr', write: (line: string) => void) {
  let partial = '';
  return (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) write(`${new Date().toISOString()} ${stream} F ${l}\n`);
  };
}

export const createTestContainerIO: CreateContainerIO = async (dir, opts) => {
  mkdirSync(dir, { recursive: true });
  const stdout = openFifo(join(dir, 'stdout'));
  const stderr = opts.tty ? undefined : openFifo(join(dir, 'stderr'));
  let logPath = '';
  const attached = new Set<StreamOptions>();
  const fan = (name: 'stdout' | 'stderr') => {
    const toLog = criLines(name, (line) => {
      if (logPath !== '') appendFileSync(logPath, line);
    });
    return (chunk: Buffer) => {
      toLog(chunk);
      for (const a of attached) a[name]?.write(chunk);
    };
  };
  stdout.socket.on('data', fan('stdout'));
  stderr?.socket.on('data', fan('stderr'));
  const io: ContainerIO = {
    io: {
      stdin: '',
      stdout: join(dir, 'stdout'),
      stderr: stderr ? join(dir, 'stderr') : '',
      terminal: opts.tty,
    },
    startLogging(path) {
      logPath = path;
    },
    async reopenLog() {},
    attach(o) {
      attached.add(o);
      return new Promise((resolve) => {
        const done = () => {
          attached.delete(o);
          resolve();
        };
        stdout.socket.once('close', done);
        o.stdout?.once('close', done);
      });
    },
    async close() {
      for (const end of [stdout, stderr]) {
        if (!end) continue;
        release(end);
        end.socket.destroy();
      }
    },
  };
  return io;
};

export const runTestExec: RunExec = async (task: Task, execId, process, o) => {
  const ctx: OpContext = o.ctx;
  const dir = join(o.dir, execId.slice(0, 12));
  mkdirSync(dir, { recursive: true });
  const out = openFifo(join(dir, 'stdout'));
  const err = o.tty ? undefined : openFifo(join(dir, 'stderr'));
  const ended = (end: FifoEnd | undefined, w: Writable | undefined) =>
    new Promise<void>((resolve) => {
      if (!end) return resolve();
      end.socket.on('data', (c: Buffer) => w?.write(c));
      end.socket.on('end', resolve);
      end.socket.on('close', resolve);
    });
  const drained = Promise.all([ended(out, o.stdout), ended(err, o.stderr)]);
  const p = await task.exec(ctx, execId, {
    stdin: '',
    stdout: join(dir, 'stdout'),
    stderr: err ? join(dir, 'stderr') : '',
    terminal: o.tty,
    spec: {
      typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
      value: Buffer.from(JSON.stringify(process)),
    },
  });
  const exited = p.wait(ctx);
  let timer: NodeJS.Timeout | undefined;
  try {
    await p.start(ctx);
    release(out);
    if (err) release(err);
    const timedOut = new Promise<'timeout'>((resolve) => {
      if (o.timeoutMs) timer = setTimeout(() => resolve('timeout'), o.timeoutMs);
    });
    const r = await Promise.race([exited, timedOut]);
    if (r === 'timeout') {
      await p.kill(ctx, 9, false).catch(() => {});
      await exited;
      throw deadlineExceeded(`timeout ${o.timeoutMs}ms exceeded`);
    }
    await drained;
    return r.status;
  } finally {
    clearTimeout(timer);
    await p.delete(ctx).catch(() => {});
    out.socket.destroy();
    err?.socket.destroy();
  }
};
