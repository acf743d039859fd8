import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Logger } from '../../core/log/index.js';
import { readResizeStream, TermSizeQueue } from './resize.js';
import type { SpdyConnection } from './spdy/connection.js';
import type { SpdyStream } from './spdy/stream.js';
import { internalErrorStatus, type Status } from './status.js';
import type { StreamOptions } from './types.js';

/** Kubernetes' remotecommand subprotocols, preferred first (k8s.io/apimachinery/pkg/util/remotecommand). */
export const REMOTECOMMAND_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
] as const;

/** The stream kinds of a remotecommand session, by their `streamType` header. */
const STREAM_TYPES = ['error', 'stdin', 'stdout', 'stderr', 'resize'] as const;
type StreamType = (typeof STREAM_TYPES)[number];

export interface RemoteCommandOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/**
 * The work of a session once its streams are there: resolves with the status to report (an exec's exit code becomes
 * one), or rejects with an error reported as an internal error prefixed with `errorPrefix`.
 */
export interface RemoteCommandRun {
  run(o: StreamOptions): Promise<Status>;
  /** `error executing command in container` or `error attaching to container`, as kubelet says. */
  errorPrefix: string;
}

/**
 * Serves one exec or attach session on an upgraded SPDY connection, as kubelet does: accepts the streams the client
 * opens, waits (at most `creationTimeoutMs`) for the ones the request implies (error, and stdin/stdout/stderr as
 * asked; resize with a TTY from v3 on), runs the command with them, reports the outcome on the error stream and
 * closes the connection.
 */
export async function serveRemoteCommand(
  conn: SpdyConnection,
  protocol: string,
  opts: RemoteCommandOptions,
  work: RemoteCommandRun,
  log: Logger,
  creationTimeoutMs: number,
): Promise<void> {
  const version = protocolVersion(protocol);
  const expected = new Set<StreamType>(['error']);
  if (opts.stdin) expected.add('stdin');
  if (opts.stdout) expected.add('stdout');
  if (opts.stderr && !opts.tty) expected.add('stderr');
  if (opts.tty && version >= 3) expected.add('resize');

  const streams = await waitForStreams(conn, expected, log, creationTimeoutMs);
  if (!streams) {
    await conn.close();
    return;
  }
  // Later streams are accepted, as kubelet does, and what comes on them is dropped.
  conn.on('stream', (s: SpdyStream) => {
    s.accept();
    s.resume();
  });
  const stdin = streams.get('stdin');
  // v1 servers closed their side of stdin (kubelet keeps doing it for v1 clients).
  if (version === 1) stdin?.end();
  await runRemoteCommand(
    {
      signal: closedSignal(conn),
      error: streams.get('error')!,
      stdin,
      stdout: streams.get('stdout'),
      stderr: opts.tty ? undefined : streams.get('stderr'),
      resize: streams.get('resize'),
    },
    version >= 4,
    opts.tty,
    work,
    log,
  );
  await conn.close();
}

/** The streams of a session, whatever carries them (SPDY streams, WebSocket channels). */
export interface SessionStreams {
  /** Aborted when the connection carrying the streams is gone. */
  signal: AbortSignal;
  error: Writable;
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resize?: Readable;
}

/**
 * Runs a session on its streams: the runtime's call, then what it wrote flushed, then the status on the error
 * stream (a JSON metav1.Status from v4 on, before that the message of a failure only), which is ended.
 */
export async function runRemoteCommand(
  streams: SessionStreams,
  jsonStatus: boolean,
  tty: boolean,
  work: RemoteCommandRun,
  log: Logger,
): Promise<void> {
  const { error, stdin, stdout, stderr } = streams;
  let resize: TermSizeQueue | undefined;
  if (streams.resize) {
    resize = new TermSizeQueue();
    readResizeStream(streams.resize, resize, log);
  }
  let status: Status;
  try {
    status = await work.run({ stdin, stdout, stderr, tty, resize, signal: streams.signal });
  } catch (err) {
    const message = `${work.errorPrefix}: ${(err as Error).message ?? String(err)}`;
    log.warn({ err: (err as Error).message }, `streaming: ${work.errorPrefix}`);
    status = internalErrorStatus(message);
  }
  resize?.end();
  // What the command wrote goes out before its status and the connection's end.
  await Promise.all([endAndFlush(stdout), endAndFlush(stderr)]);
  if (jsonStatus) error.write(JSON.stringify(status));
  else if (status.status !== 'Success') error.write(status.message ?? 'unknown error');
  await endAndFlush(error);
}

/** An AbortSignal aborted when the connection closes. */
export function closedSignal(conn: {
  once(event: 'close', f: () => void): unknown;
  isClosed: boolean;
}): AbortSignal {
  const ac = new AbortController();
  if (conn.isClosed) ac.abort();
  else conn.once('close', () => ac.abort());
  return ac.signal;
}

function protocolVersion(protocol: string): number {
  const m = /^v(\d+)\.channel\.k8s\.io$/.exec(protocol);
  return m ? Number(m[1]) : 1;
}

async function endAndFlush(stream: Writable | undefined): Promise<void> {
  if (!stream || stream.destroyed) return;
  if (!stream.writableEnded) stream.end();
  // Streams never emit 'error'; finished() settles on 'finish' or 'close'.
  await finished(stream, { readable: false }).catch(() => {});
}

/**
 * Accepts the streams the client opens until one of each expected type is there; undefined if the client does not
 * open them in time or the connection ends first. Streams of other types are accepted and ignored, as kubelet does.
 */
function waitForStreams(
  conn: SpdyConnection,
  expected: Set<StreamType>,
  log: Logger,
  timeoutMs: number,
): Promise<Map<StreamType, SpdyStream> | undefined> {
  const got = new Map<StreamType, SpdyStream>();
  return new Promise((resolve) => {
    const done = (result: Map<StreamType, SpdyStream> | undefined): void => {
      clearTimeout(timer);
      conn.off('stream', onStream);
      conn.off('close', onClose);
      resolve(result);
    };
    const onStream = (s: SpdyStream): void => {
      s.accept();
      const type = s.header('streamType') as StreamType | undefined;
      if (!type || !STREAM_TYPES.includes(type)) {
        log.warn({ streamType: type }, 'streaming: unexpected stream type');
        return;
      }
      got.set(type, s);
      if ([...expected].every((t) => got.has(t))) done(got);
    };
    const onClose = (): void => done(undefined);
    const timer = setTimeout(() => {
      log.warn(
        { expected: [...expected], received: [...got.keys()] },
        'streaming: timed out waiting for client to create streams',
      );
      done(undefined);
    }, timeoutMs);
    conn.on('stream', onStream);
    conn.on('close', onClose);
  });
}
