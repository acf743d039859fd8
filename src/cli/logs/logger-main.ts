/**
 * berth-logger: the log driver containerd's runc shim runs for a container
 * created with the log URI `binary:///…/bin/berth-logger?--dir=…` (see
 * log-uri.ts). The shim's protocol (NewBinaryIO, runc shim; runtime/v2/logging):
 * env CONTAINER_ID and CONTAINER_NAMESPACE; fd 3 reads the container's stdout,
 * fd 4 its stderr; fd 5 is the write end of the "ready" pipe, which the shim
 * reads before it starts the container: one byte then close (binary-v2 insists
 * on the byte; binary takes EOF too). Writes `<dir>/<id>-json.log` in docker's
 * json-file format with rotation, and exits once both pipes are closed (the
 * container and its descendants are gone), after SIGTERM/SIGINT once they are
 * closed or --stop-timeout has passed, writing what it holds first.
 *
 * The logger is the shim's child, not berthd's: it keeps logging while berthd
 * restarts. It starts for every container, so it imports only node builtins
 * and its own small modules.
 */
import { closeSync, createReadStream, fstatSync, mkdirSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { jsonLogPath, type LogStream } from './jsonlog.js';
import { LogWriter } from './log-writer.js';
import { parseLoggerArgs } from './logger-args.js';

const STDOUT_FD = 3;
const STDERR_FD = 4;
const READY_FD = 5;

function source(fd: number): Readable | undefined {
  let st: ReturnType<typeof fstatSync>;
  try {
    st = fstatSync(fd);
  } catch {
    return undefined; // not passed: an empty stream
  }
  // Pipes and sockets through libuv's event loop (non-blocking, no thread-pool reads).
  if (st.isFIFO() || st.isSocket()) return new Socket({ fd, readable: true, writable: false });
  return createReadStream('', { fd });
}

function ready(): void {
  try {
    writeSync(READY_FD, Buffer.of(0));
  } catch {
    // run by hand, without fd 5
  }
  try {
    closeSync(READY_FD);
  } catch {}
}

async function main(): Promise<void> {
  const args = parseLoggerArgs(process.argv.slice(2));
  const id = process.env.CONTAINER_ID;
  if (!id) throw new Error('berth-logger: CONTAINER_ID is not set (the shim sets it)');
  mkdirSync(args.dir, { recursive: true });
  const writer = await LogWriter.open({
    path: jsonLogPath(args.dir, id),
    maxSize: args.maxSize,
    maxFiles: args.maxFiles,
    onError: (err) => process.stderr.write(`berth-logger: ${String(err)}\n`),
  });

  const streams: [LogStream, Readable | undefined][] = [
    ['stdout', source(STDOUT_FD)],
    ['stderr', source(STDERR_FD)],
  ];
  let open = 0;
  let finishing = false;
  const finish = (code: number) => {
    if (finishing) return;
    finishing = true;
    writer.close().then(
      () => process.exit(code),
      () => process.exit(1),
    );
  };
  const resume = () => {
    if (finishing) return;
    for (const [, s] of streams) s?.resume();
  };

  for (const [stream, s] of streams) {
    if (!s) continue;
    open++;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      writer.endStream(stream);
      if (--open === 0) finish(0);
    };
    s.on('data', (chunk: Buffer) => {
      if (finishing) return; // closing the file: past --stop-timeout
      if (!writer.writeNoWait(stream, chunk)) {
        for (const [, other] of streams) other?.pause();
        writer.onDrain(resume);
      }
    });
    s.on('end', end);
    s.on('close', end);
    s.on('error', end);
  }

  // The shim sends SIGTERM when the task is deleted, right after closing its
  // ends of the pipes, and kills the logger 12 s later: what is still in the
  // pipes is read (their end comes soon) before the logger exits, or as much
  // as --stop-timeout allows.
  const stop = () => {
    setTimeout(() => finish(0), args.stopTimeoutMs);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  ready();
  if (open === 0) finish(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
