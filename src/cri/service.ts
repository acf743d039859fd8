import { ImageServiceService, RuntimeServiceService } from '../api/k8s/cri/runtime/v1/api.js';
import { alreadyExists } from '../core/errdefs/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { GrpcService, Handler, StreamHandler, UnaryHandler } from '../server/service.js';
import { CRI_NAMESPACE } from './sandbox/manager.js';

/** Handlers by proto method name (`RunPodSandbox`), as each part of the CRI offers them. */
export type HandlerSet = Readonly<Record<string, Handler>>;

/**
 * The two CRI services berthd serves on its main socket, composed from the
 * parts' handler sets (sandboxes, containers, images, runtime status).
 * CRI calls carry no containerd namespace: every handler acts in k8s.io,
 * containerd's CRI namespace. A method no part answers is UNIMPLEMENTED;
 * two parts answering one method is a wiring error.
 */
export function criServices(parts: {
  runtime: readonly HandlerSet[];
  images: readonly HandlerSet[];
}): GrpcService[] {
  return [
    {
      name: 'runtime.v1.RuntimeService',
      definition: RuntimeServiceService,
      namespaced: false,
      handlers: compose(parts.runtime),
    },
    {
      name: 'runtime.v1.ImageService',
      definition: ImageServiceService,
      namespaced: false,
      handlers: compose(parts.images),
    },
  ];
}

function compose(sets: readonly HandlerSet[]): Record<string, Handler> {
  const out: Record<string, Handler> = {};
  for (const set of sets) {
    for (const [method, h] of Object.entries(set)) {
      if (out[method] !== undefined) throw alreadyExists(`CRI method ${method} has two handlers`);
      out[method] = inCriNamespace(h);
    }
  }
  return out;
}

/** The call's context with namespace k8s.io (its signal and logger kept). */
export function criContext(ctx: OpContext): OpContext {
  return {
    namespace: CRI_NAMESPACE,
    get signal() {
      return ctx.signal;
    },
    log: ctx.log,
  };
}

function inCriNamespace(h: Handler): Handler {
  switch (h.kind) {
    case 'unary': {
      const fn: UnaryHandler<unknown, unknown> = (ctx, req) => h.fn(criContext(ctx), req);
      return { ...h, fn };
    }
    case 'server-stream': {
      const fn: StreamHandler<unknown, unknown> = (ctx, req, send) =>
        h.fn(criContext(ctx), req, send);
      return { ...h, fn };
    }
    case 'bidi':
      return {
        ...h,
        fn: (ctx, reqs, send, stopping) => h.fn(criContext(ctx), reqs, send, stopping),
      };
  }
}
