import { Channel, type Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ContentClient } from '../api/containerd/services/content/v1/content.js';
import type { PluginsResponse } from '../api/containerd/services/introspection/v1/introspection.js';
import {
  IntrospectionClient,
  type Plugin,
  type ServerResponse,
} from '../api/containerd/services/introspection/v1/introspection.js';
import {
  type CreateNamespaceResponse,
  type GetNamespaceResponse,
  type ListNamespacesResponse,
  NamespacesClient,
  type UpdateNamespaceResponse,
} from '../api/containerd/services/namespaces/v1/namespaces.js';
import {
  VersionClient,
  type VersionResponse,
} from '../api/containerd/services/version/v1/version.js';
import {
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthClient,
} from '../api/grpc/health/v1/health.js';
import type { ContentStore } from '../core/content/index.js';
import { nullLogger } from '../core/log/index.js';
import type { Namespace, OpContext } from '../core/namespaces/index.js';
import { ContentProxy } from './content-proxy.js';
import { fromGrpcError } from './errors.js';

export interface ClientOptions {
  /** Namespace sent as `containerd-namespace` on every call. */
  namespace?: string;
  /** Lease sent as `containerd-lease`. */
  lease?: string;
}

const MAX_MESSAGE = 16 << 20;

type Callback<Res> = (err: ServiceError | null, res: Res) => void;

/**
 * A small client for berthd (or containerd) on a unix socket, shaped like
 * containerd's Go client. All services share one HTTP/2 channel; errors come
 * back as berth errors with the server's kind.
 */
export class BerthClient {
  private readonly channel: Channel;
  private readonly clients: Client[] = [];
  private readonly versionClient: VersionClient;
  private readonly namespacesClient: NamespacesClient;
  private readonly introspectionClient: IntrospectionClient;
  private readonly healthClient: HealthClient;
  private readonly contentClient: ContentClient;
  /** The daemon's content store; operations take their namespace from the context. */
  readonly content: ContentStore;

  constructor(
    readonly address: string,
    private readonly opts: ClientOptions = {},
  ) {
    const target = `unix:${address}`;
    const options = {
      'grpc.max_receive_message_length': MAX_MESSAGE,
      'grpc.max_send_message_length': MAX_MESSAGE,
    };
    this.channel = new Channel(target, credentials.createInsecure(), options);
    const shared = { ...options, channelOverride: this.channel };
    const make = <C extends Client>(
      Ctor: new (
        addr: string,
        creds: ReturnType<typeof credentials.createInsecure>,
        o: object,
      ) => C,
    ): C => {
      const c = new Ctor(target, credentials.createInsecure(), shared);
      this.clients.push(c);
      return c;
    };
    this.versionClient = make(VersionClient);
    this.namespacesClient = make(NamespacesClient);
    this.introspectionClient = make(IntrospectionClient);
    this.healthClient = make(HealthClient);
    this.contentClient = make(ContentClient);
    this.content = new ContentProxy(this.contentClient, (ctx) => this.metadataFor(ctx));
  }

  /** An operation context in this client's namespace and lease. */
  context(signal: AbortSignal = new AbortController().signal): OpContext {
    return {
      ...(this.opts.namespace !== undefined && { namespace: this.opts.namespace }),
      ...(this.opts.lease !== undefined && { lease: this.opts.lease }),
      signal,
      log: nullLogger,
    };
  }

  /** A client for the same channel with another namespace. */
  withNamespace(namespace: string): BerthClient {
    return new BerthClient(this.address, { ...this.opts, namespace });
  }

  version(): Promise<{ version: string; revision: string }> {
    return this.call<VersionResponse>((cb) => this.versionClient.version({}, this.metadata(), cb));
  }

  async isServing(): Promise<boolean> {
    const res = await this.call<HealthCheckResponse>((cb) =>
      this.healthClient.check({ service: '' }, this.metadata(), cb),
    );
    return res.status === HealthCheckResponse_ServingStatus.SERVING;
  }

  readonly namespaces = {
    list: async (filter = ''): Promise<Namespace[]> =>
      (
        await this.call<ListNamespacesResponse>((cb) =>
          this.namespacesClient.list({ filter }, this.metadata(), cb),
        )
      ).namespaces,
    get: async (name: string): Promise<Namespace> => {
      const res = await this.call<GetNamespaceResponse>((cb) =>
        this.namespacesClient.get({ name }, this.metadata(), cb),
      );
      return res.namespace ?? { name, labels: {} };
    },
    create: async (name: string, labels: Record<string, string> = {}): Promise<Namespace> => {
      const res = await this.call<CreateNamespaceResponse>((cb) =>
        this.namespacesClient.create({ namespace: { name, labels } }, this.metadata(), cb),
      );
      return res.namespace ?? { name, labels };
    },
    update: async (ns: Namespace, paths?: string[]): Promise<Namespace> => {
      const res = await this.call<UpdateNamespaceResponse>((cb) =>
        this.namespacesClient.update(
          { namespace: ns, ...(paths && { updateMask: paths }) },
          this.metadata(),
          cb,
        ),
      );
      return res.namespace ?? ns;
    },
    delete: async (name: string): Promise<void> => {
      await this.call<unknown>((cb) => this.namespacesClient.delete({ name }, this.metadata(), cb));
    },
  };

  readonly introspection = {
    plugins: async (filters: string[] = []): Promise<Plugin[]> =>
      (
        await this.call<PluginsResponse>((cb) =>
          this.introspectionClient.plugins({ filters }, this.metadata(), cb),
        )
      ).plugins,
    server: (): Promise<ServerResponse> =>
      this.call<ServerResponse>((cb) => this.introspectionClient.server({}, this.metadata(), cb)),
  };

  close(): void {
    for (const c of this.clients) c.close();
    this.channel.close();
  }

  private metadata(): Metadata {
    return this.metadataFor(this.opts);
  }

  private metadataFor(ctx: {
    namespace?: string | undefined;
    lease?: string | undefined;
  }): Metadata {
    const md = new Metadata();
    if (ctx.namespace !== undefined) md.set('containerd-namespace', ctx.namespace);
    if (ctx.lease !== undefined) md.set('containerd-lease', ctx.lease);
    return md;
  }

  private call<Res>(start: (cb: Callback<Res>) => unknown): Promise<Res> {
    return new Promise((resolve, reject) => {
      start((err, res) => (err ? reject(fromGrpcError(err)) : resolve(res)));
    });
  }
}
