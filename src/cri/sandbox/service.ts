import type {
  ListPodSandboxRequest,
  ListPodSandboxResponse,
  ListPodSandboxStatsRequest,
  ListPodSandboxStatsResponse,
  PodSandboxStatsRequest,
  PodSandboxStatsResponse,
  PodSandboxStatusRequest,
  PodSandboxStatusResponse,
  PortForwardRequest,
  PortForwardResponse,
  RemovePodSandboxRequest,
  RunPodSandboxRequest,
  RunPodSandboxResponse,
  StopPodSandboxRequest,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { failedPrecondition, invalidArgument } from '../../core/errdefs/index.js';
import { type Handler, unary } from '../../server/service.js';
import type { SandboxManager } from './manager.js';

/** Where PortForward's URL comes from: the streaming server (cri-stream). */
export interface PortForwardUrls {
  getPortForward(req: PortForwardRequest): { url: string };
}

/** The RuntimeService methods the sandbox part answers, by proto method name. */
export function sandboxHandlers(
  sandboxes: SandboxManager,
  streaming: PortForwardUrls | undefined,
): Record<string, Handler> {
  return {
    RunPodSandbox: unary(
      async (ctx, req: RunPodSandboxRequest): Promise<RunPodSandboxResponse> => ({
        podSandboxId: await sandboxes.run(ctx, req.config, req.runtimeHandler),
      }),
    ),
    StopPodSandbox: unary(async (ctx, req: StopPodSandboxRequest) => {
      if (req.podSandboxId === '') throw invalidArgument('pod sandbox id must be set');
      await sandboxes.stop(ctx, req.podSandboxId);
      return {};
    }),
    RemovePodSandbox: unary(async (ctx, req: RemovePodSandboxRequest) => {
      if (req.podSandboxId === '') throw invalidArgument('pod sandbox id must be set');
      await sandboxes.remove(ctx, req.podSandboxId);
      return {};
    }),
    PodSandboxStatus: unary(
      async (ctx, req: PodSandboxStatusRequest): Promise<PodSandboxStatusResponse> => {
        const { status, info } = await sandboxes.status(ctx, req.podSandboxId, req.verbose);
        return {
          status,
          info,
          containersStatuses: [],
          timestamp: BigInt(Date.now()) * 1_000_000n,
        };
      },
    ),
    ListPodSandbox: unary(
      (_ctx, req: ListPodSandboxRequest): ListPodSandboxResponse => ({
        items: sandboxes.list(req.filter),
      }),
    ),
    PodSandboxStats: unary(
      async (ctx, req: PodSandboxStatsRequest): Promise<PodSandboxStatsResponse> => ({
        stats: await sandboxes.podStats(ctx, req.podSandboxId),
      }),
    ),
    ListPodSandboxStats: unary(
      async (ctx, req: ListPodSandboxStatsRequest): Promise<ListPodSandboxStatsResponse> => ({
        stats: await sandboxes.listPodStats(ctx, req.filter),
      }),
    ),
    PortForward: unary((_ctx, req: PortForwardRequest): PortForwardResponse => {
      // The sandbox must exist and be running (containerd: "sandbox container is not running").
      const sb = sandboxes.store.sandbox(req.podSandboxId);
      if (sb.status.state !== 'ready') {
        throw failedPrecondition(`sandbox container ${JSON.stringify(sb.id)} is not running`);
      }
      if (streaming === undefined) throw failedPrecondition('the streaming server is not running');
      return streaming.getPortForward({ ...req, podSandboxId: sb.id });
    }),
  };
}
