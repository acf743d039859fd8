import { existsSync } from 'node:fs';
import { Options } from '../../api/containerd/runc/options/oci.js';
import {
  type PodSandbox,
  PodSandboxState,
  type PodSandboxStatus,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { AnyValue, Container } from '../../core/containers/index.js';
import { goJson } from './go-json.js';
import type { Sandbox } from './sandbox.js';

const RUNC_OPTIONS_TYPE = 'containerd.runc.v1.Options';

/** READY only while the pause runs (containerd: unknown counts as NOTREADY too). */
export function toCriState(sb: Sandbox): PodSandboxState {
  return sb.status.state === 'ready'
    ? PodSandboxState.SANDBOX_READY
    : PodSandboxState.SANDBOX_NOTREADY;
}

/** ListPodSandbox's item. */
export function toCriSandbox(sb: Sandbox): PodSandbox {
  const m = sb.metadata;
  return {
    id: sb.id,
    metadata: m.config.metadata,
    state: toCriState(sb),
    createdAt: sb.status.createdAt,
    labels: m.config.labels,
    annotations: m.config.annotations,
    runtimeHandler: m.runtimeHandler,
  };
}

/** PodSandboxStatus's status, as containerd's toCRISandboxStatus. */
export function toCriSandboxStatus(sb: Sandbox): PodSandboxStatus {
  const m = sb.metadata;
  const ns = m.config.linux?.securityContext?.namespaceOptions;
  return {
    id: m.id,
    metadata: m.config.metadata,
    state: toCriState(sb),
    createdAt: sb.status.createdAt,
    network: { ip: m.ip, additionalIps: m.additionalIps.map((ip) => ({ ip })) },
    linux: {
      namespaces: {
        options: {
          network: ns?.network ?? 0,
          pid: ns?.pid ?? 0,
          ipc: ns?.ipc ?? 0,
          targetId: '',
        },
      },
    },
    labels: m.config.labels,
    annotations: m.config.annotations,
    runtimeHandler: m.runtimeHandler,
  };
}

/**
 * PodSandboxStatus(verbose)'s `info`, containerd's SandboxInfo: the pause's
 * pid and process status (`deleted` once its task is gone), whether the
 * netns is closed, the record's image, snapshot and runtime, the pod config,
 * the OCI spec and the CNI result.
 */
export function verboseSandboxInfo(
  sb: Sandbox,
  processStatus: string,
  record: Container | undefined,
): Record<string, unknown> {
  const m = sb.metadata;
  return {
    pid: sb.status.pid,
    processStatus,
    ...(m.netnsPath !== '' && { netNamespaceClosed: !existsSync(m.netnsPath) }),
    image: record?.image ?? '',
    snapshotKey: record?.snapshotKey ?? '',
    snapshotter: record?.snapshotter ?? '',
    runtimeHandler: m.runtimeHandler,
    runtimeType: record?.runtime.name ?? '',
    runtimeOptions: runtimeOptionsJson(record?.runtime.options),
    config: goJson(m.config),
    runtimeSpec: record?.spec ? JSON.parse(Buffer.from(record.spec.value).toString('utf8')) : null,
    cniResult: m.cniResult ?? null,
  };
}

/** runc's options as containerd's info shows them; another runtime's as its type. */
function runtimeOptionsJson(options: AnyValue | undefined): unknown {
  if (options === undefined) return null;
  if (!options.typeUrl.endsWith(RUNC_OPTIONS_TYPE)) return { type_url: options.typeUrl };
  return goJson(Options.decode(options.value));
}
