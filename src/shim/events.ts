import type { BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  TaskCheckpointed,
  TaskCreate,
  TaskDelete,
  TaskExecAdded,
  TaskExecStarted,
  TaskExit,
  TaskOOM,
  TaskPaused,
  TaskResumed,
  TaskStart,
} from '../api/containerd/events/task.js';
import { ForwardRequest } from '../api/containerd/services/ttrpc/events/v1/events.js';
import type { Logger } from '../core/log/index.js';
import { TtrpcClient } from '../ttrpc/client.js';

/**
 * The shim's events, published as containerd's runc shim publishes them:
 * `containerd.services.events.ttrpc.v1.Events/Forward` on TTRPC_ADDRESS, an
 * Envelope with the container's namespace, the topic and the event as an
 * Any (`containerd.events.TaskExit`, …). One ordered queue for the whole
 * shim: publish() never waits; a failed Forward is retried (a few times,
 * with backoff, as the Go publisher requeues) before the event is dropped.
 */

interface Codec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

const TOPICS = {
  create: ['/tasks/create', 'containerd.events.TaskCreate', TaskCreate],
  start: ['/tasks/start', 'containerd.events.TaskStart', TaskStart],
  exit: ['/tasks/exit', 'containerd.events.TaskExit', TaskExit],
  delete: ['/tasks/delete', 'containerd.events.TaskDelete', TaskDelete],
  execAdded: ['/tasks/exec-added', 'containerd.events.TaskExecAdded', TaskExecAdded],
  execStarted: ['/tasks/exec-started', 'containerd.events.TaskExecStarted', TaskExecStarted],
  paused: ['/tasks/paused', 'containerd.events.TaskPaused', TaskPaused],
  resumed: ['/tasks/resumed', 'containerd.events.TaskResumed', TaskResumed],
  oom: ['/tasks/oom', 'containerd.events.TaskOOM', TaskOOM],
  checkpointed: ['/tasks/checkpointed', 'containerd.events.TaskCheckpointed', TaskCheckpointed],
} as const;

type Topics = typeof TOPICS;
export type EventKind = keyof Topics;
type MessageOf<K extends EventKind> = Topics[K][2] extends Codec<infer T> ? T : never;

export interface Event {
  namespace: string;
  topic: string;
  typeUrl: string;
  value: Uint8Array;
  timestamp: Date;
}

/** Where events go; the service publishes through this. */
export interface EventSink {
  publish<K extends EventKind>(namespace: string, kind: K, message: MessageOf<K>): void;
}

export function encodeEvent<K extends EventKind>(
  namespace: string,
  kind: K,
  message: MessageOf<K>,
): Event {
  const [topic, typeUrl, codec] = TOPICS[kind];
  return {
    namespace,
    topic,
    typeUrl,
    value: (codec as Codec<MessageOf<K>>).encode(message).finish(),
    timestamp: new Date(),
  };
}

const MAX_ATTEMPTS = 5;
const FORWARD_TIMEOUT_MS = 5000;
const MAX_QUEUE = 4096;

export class Publisher implements EventSink {
  private readonly queue: Event[] = [];
  private client: TtrpcClient | undefined;
  private running = false;
  private closed = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly address: string,
    private readonly log: Logger,
  ) {}

  publish<K extends EventKind>(namespace: string, kind: K, message: MessageOf<K>): void {
    if (this.closed) return;
    if (this.queue.length >= MAX_QUEUE) {
      const dropped = this.queue.shift();
      this.log.error({ topic: dropped?.topic }, 'event queue full: dropped the oldest event');
    }
    this.queue.push(encodeEvent(namespace, kind, message));
    if (!this.running) void this.drain();
  }

  /** Resolves once every queued event was sent (or dropped). */
  flush(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    this.client?.close();
    this.client = undefined;
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const ev = this.queue[0] as Event;
      for (let attempt = 1; ; attempt++) {
        try {
          await this.forward(ev);
          break;
        } catch (err) {
          this.client?.close();
          this.client = undefined;
          if (attempt >= MAX_ATTEMPTS || this.address === '') {
            this.log.error({ err, topic: ev.topic }, 'post event');
            break;
          }
          await new Promise((r) => setTimeout(r, attempt * 200));
        }
      }
      this.queue.shift();
    }
    this.running = false;
    for (const r of this.idle.splice(0)) r();
  }

  private async forward(ev: Event): Promise<void> {
    if (this.address === '') throw new Error('no TTRPC_ADDRESS to publish to');
    if (!this.client || this.client.isClosed) {
      this.client = await TtrpcClient.connect(this.address, { connectTimeoutMs: 5000 });
    }
    const payload = ForwardRequest.encode({
      envelope: {
        timestamp: toTimestamp(ev.timestamp),
        namespace: ev.namespace,
        topic: ev.topic,
        event: {
          typeUrl: ev.typeUrl,
          value: Buffer.from(ev.value.buffer, ev.value.byteOffset, ev.value.byteLength),
        },
      },
    }).finish();
    await this.client.call('containerd.services.events.ttrpc.v1.Events', 'Forward', payload, {
      timeoutMs: FORWARD_TIMEOUT_MS,
      metadata: { 'containerd-namespace-ttrpc': ev.namespace },
    });
  }
}

export function toTimestamp(d: Date): { seconds: bigint; nanos: number } {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}
