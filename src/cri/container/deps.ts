/**
 * @module
 * What containers need of the CRI plugin's other parts that this folder
 * does not import directly: images, streaming URLs and stats, as narrow
 * contracts (the shapes of CRI-PLAN.md's seams) the plugin's parts satisfy
 * (`CriImages`, `StreamingServer`, `ContainerStatsCollector`). Sandboxes
 * (`SandboxLookup`), specs (`src/cri/opts`) and IO (`src/cri/io`) are used
 * through their own modules.
 */
import type {
  AttachRequest,
  ContainerMetadata,
  ContainerStats,
  ExecRequest,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { AnyValue } from '../../core/containers/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { ImageConfig } from '../opts/index.js';

export type { StreamOptions, TermSize } from '../io/index.js';
export type { SandboxInfo, SandboxLookup } from '../sandbox/sandbox.js';

/** The parts of an OCI image config document containers read. */
export interface OciImageConfig {
  config?: ImageConfig;
}

/** A local image as containers see it (cri-images' CriImage). */
export interface ResolvedImage {
  /** The image id: `sha256:<config digest>`. */
  id: string;
  /** Its record names, most informative first (tags, repo digests, the id). */
  references: string[];
  /** The chain ID of its layers: the snapshot a container's rootfs is prepared from. */
  chainId: string;
  config: OciImageConfig;
}

export interface ImageLookup {
  /** A local image by tag, digest, id or id prefix; `not_found` when it is not there. */
  resolve(ctx: OpContext, ref: string): Promise<ResolvedImage>;
}

/** The streaming server's URLs (cri-stream). */
export interface StreamingUrls {
  getExec(req: ExecRequest): { url: string };
  getAttach(req: AttachRequest): { url: string };
}

/**
 * Container stats (cri-images' ContainerStatsCollector): CPU and memory
 * from the task's cgroup metrics, the writable layer from the snapshot's
 * last measured usage.
 */
export interface StatsCollector {
  collect(
    ctx: OpContext,
    container: {
      id: string;
      metadata?: ContainerMetadata;
      labels: Record<string, string>;
      annotations: Record<string, string>;
    },
    task?: { stats(ctx: OpContext): Promise<AnyValue | undefined> },
  ): Promise<ContainerStats>;
  /** Drops what it keeps of a removed container. */
  forget(id: string): void;
}
