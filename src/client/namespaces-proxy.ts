import type {
  CreateNamespaceResponse,
  GetNamespaceResponse,
  ListNamespacesResponse,
  NamespacesClient,
  UpdateNamespaceResponse,
} from '../api/containerd/services/namespaces/v1/namespaces.js';
import type { Labels } from '../core/labels/index.js';
import type { Namespace } from '../core/namespaces/index.js';
import type { CallContext, Rpc } from './rpc.js';

/**
 * The Namespaces service (containerd's `remoteNamespaces`, plus the plain
 * get/update verbs). Requests name the namespace acted on; the client's own
 * namespace (if it has one) goes in the header as with every call, which
 * is where the daemon publishes the events.
 */
export class NamespacesProxy {
  constructor(
    private readonly client: NamespacesClient,
    private readonly rpc: Rpc,
    private readonly namespace: string | undefined,
  ) {}

  async list(filter = '', opts: CallContext = {}): Promise<Namespace[]> {
    const res = await this.rpc.unary<ListNamespacesResponse>(this.ctx(opts), (md, o, cb) =>
      this.client.list({ filter }, md, o, cb),
    );
    return res.namespaces;
  }

  /** A namespace's labels; containerd answers empty labels for a missing one. */
  async get(name: string, opts: CallContext = {}): Promise<Namespace> {
    const res = await this.rpc.unary<GetNamespaceResponse>(this.ctx(opts), (md, o, cb) =>
      this.client.get({ name }, md, o, cb),
    );
    return res.namespace ?? { name, labels: {} };
  }

  async create(name: string, labels: Labels = {}, opts: CallContext = {}): Promise<Namespace> {
    const res = await this.rpc.unary<CreateNamespaceResponse>(this.ctx(opts), (md, o, cb) =>
      this.client.create({ namespace: { name, labels } }, md, o, cb),
    );
    return res.namespace ?? { name, labels };
  }

  async update(ns: Namespace, paths?: string[], opts: CallContext = {}): Promise<Namespace> {
    const res = await this.rpc.unary<UpdateNamespaceResponse>(this.ctx(opts), (md, o, cb) =>
      this.client.update({ namespace: ns, ...(paths && { updateMask: paths }) }, md, o, cb),
    );
    return res.namespace ?? ns;
  }

  /** containerd's `SetLabel`: one label set (or removed with an empty value). */
  async setLabel(name: string, key: string, value: string, opts: CallContext = {}): Promise<void> {
    await this.update({ name, labels: { [key]: value } }, [`labels.${key}`], opts);
  }

  private ctx(opts: CallContext): CallContext {
    return { namespace: this.namespace, signal: opts.signal };
  }

  async delete(name: string, opts: CallContext = {}): Promise<void> {
    await this.rpc.unary(this.ctx(opts), (md, o, cb) => this.client.delete({ name }, md, o, cb));
  }
}
