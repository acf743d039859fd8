import type { Descriptor } from '../core/content/index.js';
import type { Logger } from '../core/log/index.js';
import type { Progress, TransferStream } from '../core/transfer/index.js';

type WireProgress = Omit<Progress, 'desc'>;

/** How often a blob's byte count is sent while it moves (containerd polls every 300 ms). */
const UPDATE_INTERVAL_MS = 200;
/** Messages queued for a client that does not read them before progress is given up. */
const MAX_QUEUED = 1024;
/** How long the end of a transfer waits for its last progress messages to go out. */
const CLOSE_WAIT_MS = 5_000;

/**
 * Forwards a transfer's progress to the client's progress stream in the
 * events and names `ctr` 1.7 shows: status lines (no name) such as
 * `Pulling from OCI Registry (ref)`, a root named by the reference, and one
 * job per blob named by containerd's ref key (`manifest-sha256:…`,
 * `layer-sha256:…`) under its parents, with `waiting`, `downloading` or
 * `uploading`, then `complete` or `already exists`.
 *
 * Byte counts of a blob are coalesced to one message per 200 ms; changes of
 * state go out at once and in order. Sending never fails the transfer: a
 * client that stopped listening only loses its progress.
 */
export class ProgressSender {
  private readonly pending = new Map<string, WireProgress>();
  private readonly lastSent = new Map<string, { event: string; at: number }>();
  private readonly refKeys = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private queued = 0;
  private failed = false;

  constructor(
    private readonly stream: TransferStream,
    private readonly log: Logger,
    private readonly closeWaitMs = CLOSE_WAIT_MS,
  ) {}

  /** A status line (ctr's last line). */
  status(event: string): void {
    this.send({ event, name: '', parents: [], progress: 0, total: 0 });
  }

  /** An event about a named thing (the root reference, a saved image). */
  event(event: string, name: string): void {
    this.send({ event, name, parents: [], progress: 0, total: 0 });
  }

  /**
   * The ProgressFn for an image operation whose root job is `root`; parents
   * named `alias` (a push names its destination) hang under the root too.
   */
  forward(root: string, alias?: string): (p: Progress) => void {
    return (p) => {
      const msg = this.translate(root, alias, p);
      if (msg !== undefined) this.update(msg, root);
    };
  }

  /** Resolves once everything queued has been sent (or the stream failed). */
  async flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.sendPending();
    await this.queue;
  }

  /**
   * Sends what is queued, then ends the stream. A client that does not read
   * its progress does not hold the transfer's answer: after 5 s the stream
   * is ended with whatever is still queued.
   */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.closeWaitMs);
      }),
    ]);
    clearTimeout(timer);
    this.failed = true;
    this.stream.close();
  }

  private translate(
    root: string,
    alias: string | undefined,
    p: Progress,
  ): WireProgress | undefined {
    // The transfer sends its own status lines (no name) and the events about the whole image.
    if (p.name === '') return undefined;
    let event = p.event;
    switch (event) {
      case 'resolving':
      case 'resolved':
      case 'fetching image content':
      case 'pushing content':
      case 'pushed content':
      case 'saved':
        return undefined;
      case 'downloaded':
      case 'pushed':
        event = 'complete';
        break;
      case 'exists':
        event = 'already exists';
        break;
    }
    let name = p.name;
    if (p.desc !== undefined) {
      name = refKey(p.desc);
      this.refKeys.set(p.desc.digest, name);
    }
    const parents = (p.parents ?? [])
      .map((parent) => (parent === alias ? root : (this.refKeys.get(parent) ?? parent)))
      .filter((parent) => parent !== name);
    return {
      event,
      name,
      parents: parents.length > 0 ? parents : name === root ? [] : [root],
      progress: p.progress,
      total: p.total,
    };
  }

  private update(p: WireProgress, root: string): void {
    // ctr hangs a job under parents it has seen only: a push reports blobs
    // before the manifest that holds them, so the parent comes first, waiting.
    for (const parent of p.parents ?? []) {
      if (parent !== root && !this.lastSent.has(parent)) {
        this.send({ event: 'waiting', name: parent, parents: [root], progress: 0, total: 0 });
      }
    }
    const last = this.lastSent.get(p.name);
    if (last === undefined || last.event !== p.event) {
      // A change of state supersedes a coalesced byte count.
      this.pending.delete(p.name);
      this.send(p);
      return;
    }
    this.pending.set(p.name, p);
    if (Date.now() - last.at >= UPDATE_INTERVAL_MS) {
      this.sendPending();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.sendPending();
      }, UPDATE_INTERVAL_MS);
    }
  }

  private sendPending(): void {
    const batch = [...this.pending.values()];
    this.pending.clear();
    for (const p of batch) this.send(p);
  }

  private send(p: WireProgress): void {
    if (this.failed) return;
    if (this.queued >= MAX_QUEUED) {
      this.failed = true;
      this.log.warn({ stream: this.stream.id }, 'progress stream not read; progress dropped');
      return;
    }
    if (p.name !== '') this.lastSent.set(p.name, { event: p.event, at: Date.now() });
    this.queued++;
    this.queue = this.queue.then(async () => {
      this.queued--;
      if (this.failed) return;
      try {
        await this.stream.send({ kind: 'progress', progress: p });
      } catch (err) {
        this.failed = true;
        this.log.debug({ err, stream: this.stream.id }, 'progress stream ended; progress dropped');
      }
    });
  }
}

const CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
  // containerd's LegacyConfigMediaType
  'application/octet-stream',
]);

/** containerd's `remotes.MakeRefKey`: `<kind>-<digest>`, with the ref name annotation when there is one. */
export function refKey(desc: Descriptor): string {
  const refName = desc.annotations?.['org.opencontainers.image.ref.name'];
  const key = refName === undefined ? desc.digest : `${refName}@${desc.digest}`;
  const mt = desc.mediaType;
  if (
    mt === 'application/vnd.oci.image.manifest.v1+json' ||
    mt === 'application/vnd.docker.distribution.manifest.v2+json'
  ) {
    return `manifest-${key}`;
  }
  if (
    mt === 'application/vnd.oci.image.index.v1+json' ||
    mt === 'application/vnd.docker.distribution.manifest.list.v2+json'
  ) {
    return `index-${key}`;
  }
  if (mt.includes('.layer.') || mt.startsWith('application/vnd.docker.image.rootfs.')) {
    return `layer-${key}`;
  }
  if (CONFIG_TYPES.has(mt)) return `config-${key}`;
  return `unknown-${key}`;
}
