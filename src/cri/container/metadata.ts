/**
 * @module
 * What the CRI plugin records of a container beside containerd's own
 * record, as containerd's `pkg/cri/store/container` Metadata: kept as the
 * record's extension `io.cri-containerd.container.metadata` (versioned
 * JSON), so it survives restarts with the record and `ctr -n k8s.io
 * containers info` shows it.
 */
import type {
  ContainerConfig,
  ContainerMetadata as CriContainerMetadata,
  PodSandboxMetadata,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { ContainerConfig as ContainerConfigJson } from '../../api/k8s/cri/runtime/v1/api.js';
import type { AnyValue } from '../../core/containers/index.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import { validateLabel } from '../../core/labels/index.js';

/** containerd's CRI label prefix and the kind label (`sandbox` | `container`). */
export const CRI_PREFIX = 'io.cri-containerd';
export const CONTAINER_KIND_LABEL = `${CRI_PREFIX}.kind`;
export const CONTAINER_KIND_CONTAINER = 'container';
export const CONTAINER_METADATA_EXTENSION = `${CRI_PREFIX}.container.metadata`;
/** The type URL containerd registers its Metadata struct under (typeurl.Register). */
export const CONTAINER_METADATA_TYPE_URL = 'github.com/containerd/cri/pkg/store/container/Metadata';
/** The OCI runtime spec's type URL in a container record. */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

const METADATA_VERSION = 'v1';

/** The CRI plugin's own facts about a container; none of them change after CreateContainer. */
export interface ContainerMetadata {
  id: string;
  /** `<name>_<pod name>_<pod namespace>_<pod uid>_<attempt>`: unique while the container exists. */
  name: string;
  sandboxId: string;
  config: ContainerConfig;
  /** The image's id (its config digest). */
  imageRef: string;
  /** `<pod log_directory>/<config log_path>`, or '' for no log. */
  logPath: string;
  /** The image's StopSignal, '' for none. */
  stopSignal: string;
}

/** containerd's `makeContainerName`: the name a container is reserved under. */
export function makeContainerName(c: CriContainerMetadata, s: PodSandboxMetadata): string {
  return [c.name, s.name, s.namespace, s.uid, String(c.attempt)].join('_');
}

/**
 * The record's labels (containerd's `buildLabels`): the image's valid
 * labels, overridden by the config's, plus the kind label.
 */
export function buildLabels(
  configLabels: Record<string, string>,
  imageLabels: Record<string, string> | undefined,
  warn: (key: string, err: unknown) => void = () => {},
): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(imageLabels ?? {})) {
    try {
      validateLabel(k, v);
      labels[k] = v;
    } catch (err) {
      warn(k, err);
    }
  }
  Object.assign(labels, configLabels);
  labels[CONTAINER_KIND_LABEL] = CONTAINER_KIND_CONTAINER;
  return labels;
}

/** The extension value: `{"Version":"v1","Metadata":{…}}`, containerd's field names. */
export function encodeMetadata(m: ContainerMetadata): AnyValue {
  const doc = {
    Version: METADATA_VERSION,
    Metadata: {
      ID: m.id,
      Name: m.name,
      SandboxID: m.sandboxId,
      Config: ContainerConfigJson.toJSON(m.config),
      ImageRef: m.imageRef,
      LogPath: m.logPath,
      StopSignal: m.stopSignal,
      ProcessLabel: '',
    },
  };
  return { typeUrl: CONTAINER_METADATA_TYPE_URL, value: Buffer.from(JSON.stringify(doc)) };
}

/** Reads an extension {@link encodeMetadata} wrote; `invalid_argument` for anything else. */
export function decodeMetadata(ext: AnyValue): ContainerMetadata {
  let doc: any;
  try {
    doc = JSON.parse(Buffer.from(ext.value).toString('utf8'));
  } catch (err) {
    throw invalidArgument(`container metadata: ${(err as Error).message}`, { cause: err });
  }
  if (doc?.Version !== METADATA_VERSION || typeof doc.Metadata !== 'object') {
    throw invalidArgument(
      `container metadata: unsupported version ${JSON.stringify(doc?.Version)}`,
    );
  }
  const md = doc.Metadata;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  if (str(md.ID) === '' || str(md.SandboxID) === '') {
    throw invalidArgument('container metadata: ID and SandboxID must be set');
  }
  return {
    id: md.ID,
    name: str(md.Name),
    sandboxId: md.SandboxID,
    config: ContainerConfigJson.fromJSON(md.Config ?? {}),
    imageRef: str(md.ImageRef),
    logPath: str(md.LogPath),
    stopSignal: str(md.StopSignal),
  };
}
