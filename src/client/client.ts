import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as GrpcJs from '@grpc/grpc-js';
import { ContainersClient } from '../api/containerd/services/containers/v1/containers.js';
import { ContentClient } from '../api/containerd/services/content/v1/content.js';
import { DiffClient } from '../api/containerd/services/diff/v1/diff.js';
import { EventsClient } from '../api/containerd/services/events/v1/events.js';
import { ImagesClient } from '../api/containerd/services/images/v1/images.js';
import {
  IntrospectionClient,
  type Plugin,
  type PluginsResponse,
  type ServerResponse,
} from '../api/containerd/services/introspection/v1/introspection.js';
import { LeasesClient } from '../api/containerd/services/leases/v1/leases.js';
import { NamespacesClient } from '../api/containerd/services/namespaces/v1/namespaces.js';
import { SnapshotsClient } from '../api/containerd/services/snapshots/v1/snapshots.js';
import { StreamingClient } from '../api/containerd/services/streaming/v1/streaming.js';
import { TasksClient } from '../api/containerd/services/tasks/v1/tasks.js';
import { TransferClient } from '../api/containerd/services/transfer/v1/transfer.js';
import {
  VersionClient,
  type VersionResponse,
} from '../api/containerd/services/version/v1/version.js';
import {
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthClient,
} from '../api/grpc/health/v1/health.js';
import type { Container as ContainerInfo, ContainerRecord } from '../core/containers/index.js';
import type { ContentStore } from '../core/content/index.js';
import { invalidArgument } from '../core/errdefs/index.js';
import type { LeaseManager } from '../core/leases/index.js';
import { LEASE_EXPIRE_LABEL } from '../core/leases/index.js';
import { nullLogger } from '../core/log/index.js';
import { DEFAULT_NAMESPACE, type OpContext } from '../core/namespaces/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import type { ImageStores } from '../core/transfer/index.js';
import { Container } from './container.js';
import { DEFAULT_RUNTIME, type NewContainerOpt } from './container-opts.js';
import { ContainersProxy } from './containers-proxy.js';
import { ContentProxy } from './content-proxy.js';
import { DiffProxy } from './diff-proxy.js';
import { type Event, EventsProxy } from './events.js';
import { Image } from './image.js';
import {
  clientExport,
  clientImport,
  clientPull,
  clientPush,
  type ExportOpts,
  type ImportOpts,
  type PullOpts,
  type PushOpts,
} from './image-ops.js';
import { ImagesProxy } from './images-proxy.js';
import { LeasesProxy } from './leases-proxy.js';
import { NamespacesProxy } from './namespaces-proxy.js';
import { remotePull } from './remote-pull.js';
import { Rpc } from './rpc.js';
import { SnapshotsProxy } from './snapshots-proxy.js';
import type { CallOpts, TaskScope } from './task.js';

/** berthd's socket, the default address (containerd's is /run/containerd/containerd.sock). */
export const DEFAULT_ADDRESS = '/run/berth/berth.sock';

/** Options of a {@link Client}: containerd's `ClientOpt`s. */
export interface ClientOptions {
  /**
   * The namespace of every call (`containerd-namespace`), containerd's
   * `WithDefaultNamespace`. Without one, calls that need a namespace fail
   * `failed_precondition`, as containerd's; {@link Client.fromEnv} defaults
   * to `default`.
   */
  namespace?: string;
  /**
   * How long a call waits for the connection to the daemon before failing
   * `unavailable` (containerd's `WithTimeout`, its dial timeout); default 10 s.
   */
  timeoutMs?: number;
  /**
   * The runtime of new containers that name none (containerd's
   * `WithDefaultRuntime`); default: the daemon's ({@link Client.defaultRuntime}).
   */
  runtime?: string;
  /** A lease every call joins (`containerd-lease`). */
  lease?: string;
}

const MAX_MESSAGE = 16 << 20;
const DEFAULT_TIMEOUT_MS = 10_000;

/** A generated service client's constructor (all share this shape). */
type ServiceClientCtor<C extends GrpcJs.Client> = new (
  address: string,
  credentials: GrpcJs.ChannelCredentials,
  options: object,
) => C;

/**
 * The one channel and the service clients every derived client shares. A
 * service client is made on first use: a program that calls one service
 * builds one client class (from its methods), not fourteen.
 */
export class Connection {
  readonly channel: GrpcJs.Channel;
  readonly rpc: Rpc;
  private readonly target: string;
  private readonly creds: GrpcJs.ChannelCredentials;
  private readonly shared: object;
  private readonly made = new Map<ServiceClientCtor<GrpcJs.Client>, GrpcJs.Client>();
  /** The daemon's default runtime, asked once ({@link Client.defaultRuntime}). */
  defaultRuntime: Promise<string> | undefined;

  constructor(
    readonly address: string,
    timeoutMs: number,
  ) {
    // Loaded on first use, as the generated clients do: the same module object.
    const grpc = createRequire(import.meta.url)('@grpc/grpc-js') as typeof GrpcJs;
    this.target =
      address.includes('://') || address.startsWith('unix:') ? address : `unix:${address}`;
    const options = {
      'grpc.max_receive_message_length': MAX_MESSAGE,
      'grpc.max_send_message_length': MAX_MESSAGE,
    };
    this.creds = grpc.credentials.createInsecure();
    this.channel = new grpc.Channel(this.target, this.creds, options);
    this.rpc = new Rpc(this.channel, grpc.Metadata, timeoutMs, address);
    this.shared = { ...options, channelOverride: this.channel };
  }

  // The client of one service on the shared channel, made on first use.
  private service<C extends GrpcJs.Client>(Ctor: ServiceClientCtor<C>): C {
    let c = this.made.get(Ctor);
    if (c === undefined) {
      c = new Ctor(this.target, this.creds, this.shared);
      this.made.set(Ctor, c);
    }
    return c as C;
  }

  get version(): VersionClient {
    return this.service(VersionClient);
  }
  get health(): HealthClient {
    return this.service(HealthClient);
  }
  get namespaces(): NamespacesClient {
    return this.service(NamespacesClient);
  }
  get introspection(): IntrospectionClient {
    return this.service(IntrospectionClient);
  }
  get content(): ContentClient {
    return this.service(ContentClient);
  }
  get images(): ImagesClient {
    return this.service(ImagesClient);
  }
  get containers(): ContainersClient {
    return this.service(ContainersClient);
  }
  get snapshots(): SnapshotsClient {
    return this.service(SnapshotsClient);
  }
  get diff(): DiffClient {
    return this.service(DiffClient);
  }
  get leases(): LeasesClient {
    return this.service(LeasesClient);
  }
  get events(): EventsClient {
    return this.service(EventsClient);
  }
  get tasks(): TasksClient {
    return this.service(TasksClient);
  }
  get transfer(): TransferClient {
    return this.service(TransferClient);
  }
  get streaming(): StreamingClient {
    return this.service(StreamingClient);
  }

  close(): void {
    for (const c of this.made.values()) c.close();
    this.channel.close();
  }
}

/** Passing a connection to the constructor: how derived clients share one. */
const SHARED = Symbol('berth.client.connection');

interface InternalOptions extends ClientOptions {
  [SHARED]?: Connection;
}

/**
 * berth's client for berthd (and containerd): containerd's Go client in
 * TypeScript. One HTTP/2 channel over the daemon's unix socket carries
 * every service; {@link withNamespace} makes clients that share it. Every
 * call takes `{ signal }` and fails with a berth error whose kind the
 * `is…` predicates test (`isNotFound(err)`).
 *
 * ```ts
 * const client = new Client('/run/berth/berth.sock', { namespace: 'default' });
 * const image = await client.pull('docker.io/library/redis:alpine', { unpack: true });
 * const container = await client.newContainer('redis', withNewSnapshot('redis-rootfs', image),
 *   withNewSpec(oci.withImageConfig(image)));
 * const task = await container.newTask(cio.withStdio());
 * const exited = task.wait();
 * await task.start();
 * ```
 */
export class Client {
  readonly address: string;
  readonly namespace: string | undefined;
  /** The runtime of new containers that name none, as the options name it (else the daemon's). */
  readonly runtime: string | undefined;
  readonly lease: string | undefined;
  /** @internal the shared channel and service clients. */
  readonly connection: Connection;
  private readonly owner: boolean;
  private readonly opts: ClientOptions;

  constructor(address: string = DEFAULT_ADDRESS, opts: ClientOptions = {}) {
    const shared = (opts as InternalOptions)[SHARED];
    this.address = address;
    this.namespace = opts.namespace;
    this.runtime = opts.runtime;
    this.lease = opts.lease;
    this.owner = shared === undefined;
    this.connection = shared ?? new Connection(address, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.opts = { ...opts };
    delete (this.opts as InternalOptions)[SHARED];
  }

  /**
   * A client from the environment, as containerd's tools read it:
   * `CONTAINERD_ADDRESS` (default berthd's socket) and
   * `CONTAINERD_NAMESPACE` (default `default`).
   */
  static fromEnv(opts: ClientOptions = {}): Client {
    const address = process.env.CONTAINERD_ADDRESS || DEFAULT_ADDRESS;
    const namespace = opts.namespace ?? (process.env.CONTAINERD_NAMESPACE || DEFAULT_NAMESPACE);
    return new Client(address, { ...opts, namespace });
  }

  /** A client in another namespace sharing this one's channel (closing it closes nothing). */
  withNamespace(namespace: string): Client {
    return this.derive({ namespace });
  }

  /** A client whose calls join `lease` (containerd's `leases.WithLease`), sharing the channel. */
  withLease(lease: string | undefined): Client {
    return this.derive({ lease });
  }

  private derive(change: Partial<ClientOptions>): Client {
    const opts: InternalOptions = { ...this.opts, ...change };
    if (this.namespace !== undefined) opts.namespace ??= this.namespace;
    if (opts.lease === undefined) delete opts.lease;
    if (opts.namespace === undefined) delete opts.namespace;
    opts[SHARED] = this.connection;
    return new Client(this.address, opts);
  }

  /** Closes the channel; a client made by {@link withNamespace} leaves it to its origin. */
  close(): void {
    if (this.owner) this.connection.close();
  }

  /** The operation context of this client's namespace and lease, for the store proxies. */
  context(signal: AbortSignal = new AbortController().signal): OpContext {
    return {
      ...(this.namespace !== undefined && { namespace: this.namespace }),
      ...(this.lease !== undefined && { lease: this.lease }),
      signal,
      log: nullLogger,
    };
  }

  // ---------------------------------------------------------------------------
  // The daemon

  version(opts: CallOpts = {}): Promise<{ version: string; revision: string }> {
    return this.connection.rpc.unary<VersionResponse>({ signal: opts.signal }, (md, o, cb) =>
      this.connection.version.version({}, md, o, cb),
    );
  }

  /** The daemon's UUID and deprecation warnings (containerd's `Server`). */
  server(opts: CallOpts = {}): Promise<ServerResponse> {
    return this.connection.rpc.unary<ServerResponse>({ signal: opts.signal }, (md, o, cb) =>
      this.connection.introspection.server({}, md, o, cb),
    );
  }

  /**
   * The runtime of new containers that name none (containerd's `Runtime()`):
   * the one the options name, else the daemon's. berthd shows its
   * `default_runtime` (berth's grouped shim, `io.containerd.berth.v1`,
   * unless configured otherwise) among the exports of its
   * `io.containerd.runtime.v2` `task` plugin; containerd has no default
   * of its own, so its clients name `io.containerd.runc.v2`
   * ({@link DEFAULT_RUNTIME}). Asked once per connection.
   */
  async defaultRuntime(opts: CallOpts = {}): Promise<string> {
    if (this.runtime !== undefined) return this.runtime;
    const c = this.connection;
    c.defaultRuntime ??= this.introspection.plugins([], opts).then(
      (plugins) =>
        plugins.find((p) => p.type === 'io.containerd.runtime.v2' && p.id === 'task')?.exports
          .default_runtime || DEFAULT_RUNTIME,
      (err) => {
        c.defaultRuntime = undefined;
        throw err;
      },
    );
    return c.defaultRuntime;
  }

  /** Whether gRPC health answers SERVING (containerd's `IsServing`). */
  async isServing(opts: CallOpts = {}): Promise<boolean> {
    const res = await this.connection.rpc.unary<HealthCheckResponse>(
      { signal: opts.signal },
      (md, o, cb) => this.connection.health.check({ service: '' }, md, o, cb),
    );
    return res.status === HealthCheckResponse_ServingStatus.SERVING;
  }

  readonly introspection = {
    plugins: async (filters: string[] = [], opts: CallOpts = {}): Promise<Plugin[]> =>
      (
        await this.connection.rpc.unary<PluginsResponse>({ signal: opts.signal }, (md, o, cb) =>
          this.connection.introspection.plugins({ filters }, md, o, cb),
        )
      ).plugins,
    server: (opts: CallOpts = {}): Promise<ServerResponse> => this.server(opts),
  };

  // ---------------------------------------------------------------------------
  // The stores, as containerd's `ContentStore()`, `ImageService()`, …

  get namespaces(): NamespacesProxy {
    return new NamespacesProxy(this.connection.namespaces, this.connection.rpc, this.namespace);
  }

  /** The daemon's content store; operations take their namespace from the context. */
  get content(): ContentStore {
    return this.contentStore();
  }

  contentStore(): ContentProxy {
    return new ContentProxy(this.connection.content, this.connection.rpc);
  }

  imageService(): ImagesProxy {
    return new ImagesProxy(this.connection.images, this.connection.rpc);
  }

  containerService(): ContainersProxy {
    return new ContainersProxy(this.connection.containers, this.connection.rpc);
  }

  /** The snapshotter of that name (default the default snapshotter, overlayfs). */
  snapshotService(snapshotter: string): Snapshotter {
    if (snapshotter === '') throw invalidArgument('snapshotter name must not be empty');
    return new SnapshotsProxy(this.connection.snapshots, this.connection.rpc, snapshotter);
  }

  leasesService(): LeaseManager {
    return new LeasesProxy(this.connection.leases, this.connection.rpc);
  }

  diffService(): DiffProxy {
    return new DiffProxy(this.connection.diff, this.connection.rpc);
  }

  eventService(): EventsProxy {
    return new EventsProxy(this.connection.events, this.connection.rpc);
  }

  /** The stores `src/images`' pull, push, import, export and unpack run on, over gRPC. */
  imageStores(): ImageStores {
    return {
      content: this.contentStore(),
      images: this.imageService(),
      leases: this.leasesService(),
      snapshotter: (name) => this.snapshotService(name),
      applier: this.diffService(),
    };
  }

  /** @internal what tasks and processes call through. */
  taskScope(): TaskScope {
    return { tasks: this.connection.tasks, rpc: this.connection.rpc, namespace: this.namespace };
  }

  /**
   * Runs `fn` with a client whose calls join a new lease (expiring after
   * 24 h, containerd's `WithLease` default), deleted when `fn` settles; with
   * a lease already set, runs `fn` with this client.
   */
  async withTemporaryLease<T>(fn: (client: Client) => Promise<T>, opts: CallOpts = {}): Promise<T> {
    if (this.lease !== undefined) return fn(this);
    const leases = this.leasesService();
    const id = `berth-client-${Date.now()}-${randomBytes(4).toString('hex')}`;
    const expire = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
    await leases.create(this.context(opts.signal), {
      id,
      labels: { [LEASE_EXPIRE_LABEL]: expire },
    });
    try {
      return await fn(this.withLease(id));
    } finally {
      await leases.delete(this.context(), id).catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------------------
  // Images

  /**
   * Fetches `ref` from its registry into the daemon and answers the image
   * (containerd's `Pull`); with `unpack`, its layers are unpacked into the
   * snapshotter too. The registry is reached from this process (hosts.toml,
   * credentials and Docker's config.json apply here), unless `remote` asks
   * the daemon's Transfer service to do it.
   */
  pull(ref: string, opts: PullOpts = {}): Promise<Image> {
    if (opts.remote === true) return remotePull(this, ref, opts);
    return clientPull(this, ref, opts);
  }

  /** Pushes an image (default the one named `ref`) to `ref`'s registry (containerd's `Push`). */
  push(ref: string, opts: PushOpts = {}): Promise<void> {
    return clientPush(this, ref, opts);
  }

  /**
   * Imports a docker-save or OCI-layout archive (plain or gzip) read from
   * `input` and answers the images it named (containerd's `Import`).
   */
  import(input: AsyncIterable<Uint8Array>, opts: ImportOpts = {}): Promise<Image[]> {
    return clientImport(this, input, opts);
  }

  /**
   * Writes an OCI archive (with Docker's manifest.json) of the images to
   * `output` (containerd's `Export`); `output` is not ended.
   */
  export(
    output: NodeJS.WritableStream,
    refs: readonly (string | Image)[],
    opts: ExportOpts = {},
  ): Promise<void> {
    return clientExport(this, output, refs, opts);
  }

  /** The image record `name` (`not_found` when there is none). */
  async getImage(name: string, opts: CallOpts = {}): Promise<Image> {
    const record = await this.imageService().get(this.context(opts.signal), name);
    return new Image(this, record);
  }

  /** Images matching any of the filters (containerd's syntax: `name==…`, `labels.…`). */
  async listImages(filters: readonly string[] = [], opts: CallOpts = {}): Promise<Image[]> {
    const records = await this.imageService().list(this.context(opts.signal), filters);
    return records.map((r) => new Image(this, r));
  }

  // ---------------------------------------------------------------------------
  // Containers

  /**
   * Creates a container record from the options (containerd's
   * `NewContainer`); the runtime defaults to the client's
   * ({@link defaultRuntime}). What the options create (a new snapshot) is
   * held by a lease until the record refers to it.
   */
  async newContainer(id: string, ...opts: NewContainerOpt[]): Promise<Container> {
    return this.withTemporaryLease(async (leased) => {
      const record: ContainerRecord = {
        id,
        labels: {},
        image: '',
        runtime: { name: '' },
        snapshotter: '',
        snapshotKey: '',
        sandbox: '',
        extensions: {},
      };
      for (const o of opts) await o(leased, record);
      if (record.runtime.name === '') record.runtime.name = await this.defaultRuntime();
      await leased.containerService().create(leased.context(), record);
      return new Container(this, id);
    });
  }

  /** The container `id` (`not_found` when there is none). */
  async loadContainer(id: string, opts: CallOpts = {}): Promise<Container> {
    await this.containerService().get(this.context(opts.signal), id);
    return new Container(this, id);
  }

  /** Containers matching any of the filters (`id==…`, `image==…`, `labels.…`). */
  async containers(filters: readonly string[] = [], opts: CallOpts = {}): Promise<Container[]> {
    const records: ContainerInfo[] = await this.containerService().list(
      this.context(opts.signal),
      filters,
    );
    return records.map((r) => new Container(this, r.id));
  }

  // ---------------------------------------------------------------------------
  // Events

  /**
   * Events from now on matching any of `filters`, decoded, as an async
   * iterable that ends when `signal` aborts (containerd's `Subscribe`).
   * Events of every namespace come unless a filter says otherwise.
   */
  subscribe(filters: readonly string[] = [], opts: CallOpts = {}): AsyncGenerator<Event> {
    return this.eventService().subscribe(filters, { signal: opts.signal });
  }
}
