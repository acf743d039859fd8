/**
 * @module
 * The namespace's containers and tasks in two unary gRPC calls made over
 * the client's small HTTP/2 connection (h2-unary.ts), without @grpc/grpc-js
 * or node:http2: for a short-lived command that asks two questions and
 * exits (`berth ps`), loading those costs several times the calls
 * themselves. The same wire as the {@link Client} (gRPC over HTTP/2 on the
 * daemon's unix socket, the `containerd-namespace` header); failures are
 * berth errors of the same kinds.
 */
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
import { H2UnaryConnection } from './h2-unary.js';

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

async function unary<Req, Res>(
  conn: H2UnaryConnection,
  address: string,
  path: string,
  namespace: string,
  req: Req,
  reqCodec: Codec<Req>,
  resCodec: Codec<Res>,
): Promise<Res> {
  const body = reqCodec.encode(req).finish();
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  let answer: Awaited<ReturnType<H2UnaryConnection['call']>>;
  try {
    answer = await conn.call(path, [['containerd-namespace', namespace]], frame);
  } catch (err) {
    const e = err as Error;
    throw conn.failure === err
      ? unavailable(`cannot reach the daemon at ${address}: ${e.message}`, { cause: e })
      : unavailable(`${path}: ${e.message}`, { cause: e });
  }
  if (answer.status !== 0) {
    const code = answer.status ?? 2;
    throw newError(kindOfStatusCode(code), answer.message || `${path}: gRPC status ${code}`);
  }
  const data = answer.body;
  if (data.length < 5 || data[0] !== 0) {
    throw unavailable(`${path}: a compressed or truncated response`);
  }
  return resCodec.decode(data.subarray(5, 5 + data.readUInt32BE(1)));
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
  const conn = new H2UnaryConnection(path);
  try {
    const [containers, tasks] = await Promise.all([
      unary(
        conn,
        address,
        '/containerd.services.containers.v1.Containers/List',
        namespace,
        ListContainersRequest.fromPartial({}),
        ListContainersRequest,
        ListContainersResponse,
      ),
      unary(
        conn,
        address,
        '/containerd.services.tasks.v1.Tasks/List',
        namespace,
        ListTasksRequest.fromPartial({}),
        ListTasksRequest,
        ListTasksResponse,
      ),
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
    conn.close();
  }
}
