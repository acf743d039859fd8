import type { Duplex } from 'node:stream';
import type { Logger } from '../../core/log/index.js';
import type { SpdyConnection } from './spdy/connection.js';
import { RstStatus } from './spdy/frames.js';
import type { SpdyStream } from './spdy/stream.js';

/** Kubernetes' port-forward subprotocol over SPDY. */
export const PORTFORWARD_PROTOCOLS = ['portforward.k8s.io'] as const;

interface StreamPair {
  requestId: string;
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

/**
 * Serves one port-forward connection, as kubelet does: every forwarded TCP connection of the client is a pair of
 * streams with one `requestID` (a `data` stream and an `error` stream, each naming the `port`); each complete pair
 * goes to `forward`. A failure is written to the pair's error stream (ECONNRESET and EPIPE reset both streams
 * instead). The connection lasts until the client closes it.
 */
export function servePortForward(
  conn: SpdyConnection,
  podSandboxId: string,
  forward: (port: number, stream: Duplex) => Promise<void>,
  log: Logger,
  creationTimeoutMs: number,
): Promise<void> {
  const pairs = new Map<string, StreamPair>();

  conn.on('stream', (s: SpdyStream) => {
    const problem = checkStream(s);
    if (problem) {
      log.warn({ streamId: s.id, err: problem }, 'streaming: port-forward stream rejected');
      s.reset(RstStatus.Cancel);
      return;
    }
    s.accept();
    const type = s.header('streamType') as 'data' | 'error';
    const requestId = requestIdOf(s, type);
    let pair = pairs.get(requestId);
    if (!pair) {
      const p: StreamPair = {
        requestId,
        timer: setTimeout(() => {
          const msg = `(conn, request=${requestId}) timed out waiting for streams`;
          log.warn({ requestId }, 'streaming: port-forward timed out waiting for streams');
          p.error?.write(msg);
          pairs.delete(requestId);
        }, creationTimeoutMs),
      };
      pair = p;
      pairs.set(requestId, pair);
    }
    if (pair[type]) {
      const msg = `error processing stream for request ${requestId}: ${type} stream already assigned`;
      log.warn({ requestId }, `streaming: ${msg}`);
      pair.error?.write(msg);
      return;
    }
    pair[type] = s;
    if (!pair.data || !pair.error) return;
    clearTimeout(pair.timer);
    pairs.delete(requestId);
    void forwardPair(pair.data, pair.error);
  });

  const forwardPair = async (data: SpdyStream, error: SpdyStream): Promise<void> => {
    const port = Number(data.header('port'));
    try {
      await forward(port, data);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNRESET' || code === 'EPIPE') {
        log.debug(
          { port, err: (err as Error).message },
          'streaming: port-forward connection reset',
        );
        data.reset();
        error.reset();
        return;
      }
      const msg = `error forwarding port ${port} to pod ${podSandboxId}, uid : ${(err as Error).message}`;
      log.warn(
        { port, podSandboxId, err: (err as Error).message },
        'streaming: port-forward failed',
      );
      error.write(msg);
    }
    data.end();
    error.end();
  };

  return new Promise((resolve) => {
    conn.once('close', () => {
      for (const p of pairs.values()) clearTimeout(p.timer);
      pairs.clear();
      resolve();
    });
  });
}

/** kubelet's checks of a port-forward stream's headers; the problem, or undefined. */
function checkStream(s: SpdyStream): string | undefined {
  const port = s.header('port');
  if (port === undefined || port === '') return '"port" header is required';
  if (!/^\d+$/.test(port) || Number(port) > 65535) return `unable to parse "${port}" as a port`;
  if (Number(port) < 1) return `port "${port}" must be > 0`;
  const type = s.header('streamType');
  if (type === undefined || type === '') return '"streamType" header is required';
  if (type !== 'data' && type !== 'error') return `invalid stream type "${type}"`;
  return undefined;
}

/**
 * The stream's `requestID`; clients older than the header had none, and kubelet pairs their streams by id (the
 * error stream's id, and the data stream's minus 2).
 */
function requestIdOf(s: SpdyStream, type: 'data' | 'error'): string {
  const id = s.header('requestID');
  if (id !== undefined && id !== '') return id;
  return String(type === 'error' ? s.id : s.id - 2);
}
