import type { Labels } from '../labels/index.js';
import type { OpContext } from '../namespaces/index.js';

/**
 * The ends of a transfer, containerd 1.7's `containerd.types.transfer`
 * messages as the domain sees them. Streams are named by the ids the client
 * registered them under with the Streaming service; platforms are strings
 * (`linux/amd64`, `linux/arm/v7`).
 */
export type TransferEndpoint =
  | RegistryEndpoint
  | ImageStoreEndpoint
  | ImportStreamEndpoint
  | ExportStreamEndpoint;

/** `OCIRegistry`: a repository reference on a registry (pull source, push destination). */
export interface RegistryEndpoint {
  kind: 'registry';
  reference: string;
  /** Stream on which credentials are asked (`AuthRequest` → `AuthResponse`); '' for none. */
  authStream: string;
  /** Extra HTTP headers for the registry. */
  headers: Record<string, string>;
  /** A hosts.toml directory instead of the daemon's; '' for the daemon's (containerd 2.0's field). */
  hostDir: string;
  /** `http` makes hosts without a configuration plain HTTP; '' or `https` (containerd 2.0's field). */
  defaultScheme: string;
}

/** `ImageReference`: a name to store images under or look them up by. */
export interface ImageReference {
  name: string;
  isPrefix: boolean;
  allowOverwrite: boolean;
  addDigest: boolean;
  skipNamedDigest: boolean;
}

export interface UnpackConfiguration {
  /** '' when the client named none. */
  platform: string;
  /** '' for the default snapshotter. */
  snapshotter: string;
}

/** `ImageStore`: the daemon's image records (a source by name, or a destination). */
export interface ImageStoreEndpoint {
  kind: 'imageStore';
  name: string;
  labels: Labels;
  /** Platforms whose content to keep; empty: all. */
  platforms: string[];
  allMetadata: boolean;
  /** 0: no limit. */
  manifestLimit: number;
  extraReferences: ImageReference[];
  unpacks: UnpackConfiguration[];
}

/** `ImageImportStream`: an archive the client sends on a stream. */
export interface ImportStreamEndpoint {
  kind: 'importStream';
  stream: string;
  mediaType: string;
  forceCompress: boolean;
}

/** `ImageExportStream`: an archive the daemon writes to a stream. */
export interface ExportStreamEndpoint {
  kind: 'exportStream';
  stream: string;
  mediaType: string;
  platforms: string[];
  allPlatforms: boolean;
  skipCompatibilityManifest: boolean;
  skipNonDistributable: boolean;
}

export interface TransferRequest {
  source: TransferEndpoint;
  destination: TransferEndpoint;
  /** Stream to send progress on; '' for none. */
  progressStream: string;
}

/**
 * Moves images between two endpoints (containerd's `transfer.Transferrer`):
 * pull, push, import, export, tag. A pair it cannot handle is
 * `not_implemented`, naming both ends.
 */
export interface Transferrer {
  transfer(ctx: OpContext, req: TransferRequest): Promise<void>;
}
