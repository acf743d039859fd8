import {
  type CreateNamespaceRequest,
  type DeleteNamespaceRequest,
  type GetNamespaceRequest,
  type ListNamespacesRequest,
  NamespacesService,
  type UpdateNamespaceRequest,
} from '../../api/containerd/services/namespaces/v1/namespaces.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { Publisher } from '../../core/events/index.js';
import { fieldsAdaptor, parseFilter } from '../../core/filters/index.js';
import { isValidIdentifier } from '../../core/identifiers/index.js';
import type { Namespace, NamespaceStore, OpContext } from '../../core/namespaces/index.js';
import { type GrpcService, unary } from '../../server/service.js';
import { namespaceCreate, namespaceDelete, namespaceUpdate } from '../../wire/event-payloads.js';

/**
 * containerd.services.namespaces.v1.Namespaces over a {@link NamespaceStore}.
 *
 * After a change is stored it publishes `/namespaces/create`, `/update` or
 * `/delete`, as containerd does, with the request's name and labels. The
 * event's namespace: for delete, the deleted namespace (as containerd); for
 * create and update, the caller's `containerd-namespace` (as containerd;
 * ctr and the Go client always send one), or, when the caller sent none or
 * an invalid one, the namespace created or updated, where containerd would
 * fail the call after the change was stored.
 */
export function namespacesService(store: NamespaceStore, events: Publisher): GrpcService {
  return {
    name: 'containerd.services.namespaces.v1.Namespaces',
    definition: NamespacesService,
    namespaced: false,
    handlers: {
      // containerd answers a missing namespace with empty labels, not
      // NOT_FOUND; its Go client relies on that when it connects.
      Get: unary((_ctx, req: GetNamespaceRequest) => ({
        namespace: store.get(req.name) ?? { name: req.name, labels: {} },
      })),
      List: unary((_ctx, req: ListNamespacesRequest) => {
        const filter = parseFilter(req.filter);
        return {
          namespaces: store.list().filter((ns) => filter.match(fieldsAdaptor(ns))),
        };
      }),
      Create: unary(async (ctx, req: CreateNamespaceRequest) => {
        const ns = required(req.namespace);
        const created = store.create(ns);
        await events.publish(
          callerOr(ctx, ns.name),
          '/namespaces/create',
          namespaceCreate({ name: ns.name, labels: ns.labels }),
        );
        return { namespace: created };
      }),
      Update: unary(async (ctx, req: UpdateNamespaceRequest) => {
        const ns = required(req.namespace);
        const updated = store.update(ns, req.updateMask);
        await events.publish(
          callerOr(ctx, ns.name),
          '/namespaces/update',
          namespaceUpdate({ name: ns.name, labels: ns.labels }),
        );
        return { namespace: updated };
      }),
      Delete: unary(async (ctx, req: DeleteNamespaceRequest) => {
        await store.delete(req.name);
        await events.publish(
          inNamespace(ctx, req.name),
          '/namespaces/delete',
          namespaceDelete({ name: req.name }),
        );
        return {};
      }),
    },
  };
}

/** The caller's context if it names a valid namespace, else one in `fallback`. */
function callerOr(ctx: OpContext, fallback: string): OpContext {
  return ctx.namespace !== undefined && isValidIdentifier(ctx.namespace)
    ? ctx
    : inNamespace(ctx, fallback);
}

/** `ctx` in another namespace (its signal is read lazily, as the server made it). */
function inNamespace(ctx: OpContext, namespace: string): OpContext {
  return {
    namespace,
    ...(ctx.lease !== undefined && { lease: ctx.lease }),
    log: ctx.log,
    get signal() {
      return ctx.signal;
    },
  };
}

function required(ns: Namespace | undefined): Namespace {
  if (!ns) throw invalidArgument('namespace is missing from the request');
  return { name: ns.name, labels: ns.labels ?? {} };
}
