import {
  type CreateNamespaceRequest,
  type DeleteNamespaceRequest,
  type GetNamespaceRequest,
  type ListNamespacesRequest,
  NamespacesService,
  type UpdateNamespaceRequest,
} from '../../api/containerd/services/namespaces/v1/namespaces.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import { fieldsAdaptor, parseFilter } from '../../core/filters/index.js';
import type { Namespace, NamespaceStore } from '../../core/namespaces/index.js';
import { type GrpcService, unary } from '../../server/service.js';

/** containerd.services.namespaces.v1.Namespaces over a {@link NamespaceStore}. */
export function namespacesService(store: NamespaceStore): GrpcService {
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
      Create: unary((_ctx, req: CreateNamespaceRequest) => ({
        namespace: store.create(required(req.namespace)),
      })),
      Update: unary((_ctx, req: UpdateNamespaceRequest) => ({
        namespace: store.update(required(req.namespace), req.updateMask),
      })),
      Delete: unary((_ctx, req: DeleteNamespaceRequest) => {
        store.delete(req.name);
        return {};
      }),
    },
  };
}

function required(ns: Namespace | undefined): Namespace {
  if (!ns) throw invalidArgument('namespace is missing from the request');
  return { name: ns.name, labels: ns.labels ?? {} };
}
