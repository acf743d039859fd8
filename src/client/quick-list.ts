/**
 * @module
 * The namespace's containers and tasks in two unary gRPC calls made over
 * node's http2, without @grpc/grpc-js: for a short-lived command that asks
 * two questions and exits (`berth ps`), loading grpc-js and every service's
 * client costs several times the calls themselves. The same wire as the
 * {@link Client} (gRPC over HTTP/2 on the daemon's unix socket, the
 * `containerd-namespace` header); failures are berth errors of the same kinds.
 */
import { connect as h2connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import {
  ListContainersRequest,
  ListContainersResponse,
} from '../api/containerd/services/containers/v1/containers.js';
import { ListTasksRequest, ListTasksResponse } from '../api/containerd/services/tasks/v1/tasks.js';
import type { Process } from '../api/containerd/types/task/task.js';
import type { Container } from '../core/containers/index.js';
import { kindOfStatusCode, newError, unavailable } from '../core/errdefs/index.js';
import { containerFromProto } from '../wire/containers.js';
import { fromTimestamp } from '../wire/timestamp.js';

interface Codec<T> {
  encode(m: T): { finish(): Uint8Array };
  decode(b: Uint8Array): T;
}

/** The socket path of a daemon address (`/run/x.sock`, `unix:///run/x.sock`); undefined for other schemes. */
export function unixSocketPath(address: string): string | undefined {
  if (address.startsWith('unix://')) return address.slice('unix://'.length);
  if (address.startsWith('unix:')) return address.slice('unix:'.length);
  return address.includes('://') ? undefined : address;
}

function unary<Req, Res>(
  session: import('node:http2').ClientHttp2Session,
  path: string,
  namespace: string,
  req: Req,
  reqCodec: Codec<Req>,
  resCodec: Codec<Res>,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const body = reqCodec.encode(req).finish();
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'containerd-namespace': namespace,
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message = '';
    const headers = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
    };
    stream.on('response', headers);
    stream.on('trailers', headers);
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('error', (err) => reject(unavailable(`${path}: ${err.message}`, { cause: err })));
    stream.on('end', () => {
      if (status !== '0') {
        const code = Number(status ?? 2);
        reject(newError(kindOfStatusCode(code), message || `${path}: gRPC status ${code}`));
        return;
      }
      const data = Buffer.concat(chunks);
      if (data.length < 5 || data[0] !== 0) {
        reject(unavailable(`${path}: a compressed or truncated response`));
        return;
      }
      resolve(resCodec.decode(data.subarray(5, 5 + data.readUInt32BE(1))));
    });
    stream.end(frame);
  });
}

/** A task as the Tasks service lists it; `id` is the container's (containerd leaves `containerId` empty). */
export interface ListedTask {
  id: string;
  pid: number;
  /** containerd.v1.types.Status: 1 created, 2 running, 3 stopped, 4 paused, 5 pausing. */
  status: number;
  exitStatus: number;
  /** Nanoseconds since the epoch; 0 when it has not exited. */
  exitedAtNanos: bigint;
}

function listedTask(p: Process): ListedTask {
  const nanos = p.exitedAt === undefined ? 0n : fromTimestamp(p.exitedAt);
  return {
    id: p.id || p.containerId,
    pid: p.pid,
    status: p.status,
    exitStatus: p.exitStatus,
    exitedAtNanos: nanos > 0n ? nanos : 0n,
  };
}

/**
 * The container records and the tasks of `namespace` on the daemon at
 * `address` (a unix socket): Containers.List and Tasks.List, concurrently
 * on one HTTP/2 connection. `unavailable` when the daemon cannot be reached.
 */
export async function listContainersAndTasks(
  address: string,
  namespace: string,
): Promise<{ containers: Container[]; tasks: ListedTask[] }> {
  const path = unixSocketPath(address);
  if (path === undefined) throw unavailable(`${address}: only unix sockets are supported here`);
  const session = h2connect('http://localhost', { createConnection: () => netConnect(path) });
  try {
    const failed = new Promise<never>((_, reject) =>
      session.once('error', (err) =>
        reject(
          unavailable(`cannot reach the daemon at ${address}: ${err.message}`, { cause: err }),
        ),
      ),
    );
    const [containers, tasks] = await Promise.race([
      Promise.all([
        unary(
          session,
          '/containerd.services.containers.v1.Containers/List',
          namespace,
          ListContainersRequest.fromPartial({}),
          ListContainersRequest,
          ListContainersResponse,
        ),
        unary(
          session,
          '/containerd.services.tasks.v1.Tasks/List',
          namespace,
          ListTasksRequest.fromPartial({}),
          ListTasksRequest,
          ListTasksResponse,
        ),
      ]),
      failed,
    ]);
    return {
      containers: containers.containers.map((c) => ({
        ...containerFromProto(c),
        createdAt: fromTimestamp(c.createdAt),
        updatedAt: fromTimestamp(c.updatedAt),
      })),
      tasks: tasks.tasks.map(listedTask),
    };
  } finally {
    session.close();
  }
}
