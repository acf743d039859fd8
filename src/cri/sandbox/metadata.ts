import { PodSandboxConfig } from '../../api/k8s/cri/runtime/v1/api.js';
import type { AnyValue } from '../../core/containers/index.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { SandboxMetadata } from './sandbox.js';

/** containerd's label that tells a CRI sandbox's record from a container's. */
export const KIND_LABEL = 'io.cri-containerd.kind';
export const KIND_SANDBOX = 'sandbox';
/** The record's extension holding {@link SandboxMetadata}. */
export const SANDBOX_METADATA_EXTENSION = 'io.cri-containerd.sandbox.metadata';
/** The type containerd registers its sandbox metadata under (typeurl). */
export const SANDBOX_METADATA_TYPE = 'github.com/containerd/cri/pkg/store/sandbox/Metadata';
const METADATA_VERSION = 'v1';

/**
 * The extension's JSON, containerd's versioned shape (`{"Version":"v1",
 * "Metadata":{"ID",...}}`), so `ctr -n k8s.io containers info` reads the
 * same. `Config` is there for people (int64s as strings); `ConfigProto`
 * (base64 protobuf) is what berth decodes, an exact round trip that needs
 * no JSON codec for the generated types.
 */
export function encodeSandboxMetadata(m: SandboxMetadata): AnyValue {
  const json = {
    Version: METADATA_VERSION,
    Metadata: {
      ID: m.id,
      Name: m.name,
      Config: m.config,
      ConfigProto: Buffer.from(PodSandboxConfig.encode(m.config).finish()).toString('base64'),
      NetNSPath: m.netnsPath,
      IP: m.ip,
      AdditionalIPs: m.additionalIps,
      RuntimeHandler: m.runtimeHandler,
      CNIResult: m.cniResult ?? null,
      ProcessLabel: '',
    },
  };
  const text = JSON.stringify(json, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  return { typeUrl: SANDBOX_METADATA_TYPE, value: Buffer.from(text) };
}

export function decodeSandboxMetadata(any: AnyValue): SandboxMetadata {
  if (any.typeUrl !== SANDBOX_METADATA_TYPE) {
    throw invalidArgument(`sandbox metadata: unexpected type ${JSON.stringify(any.typeUrl)}`);
  }
  let parsed: { Version?: unknown; Metadata?: Record<string, unknown> };
  try {
    parsed = JSON.parse(Buffer.from(any.value).toString('utf8'));
  } catch (err) {
    throw invalidArgument(`sandbox metadata: ${(err as Error).message}`, { cause: err });
  }
  if (parsed.Version !== METADATA_VERSION || typeof parsed.Metadata !== 'object') {
    throw invalidArgument(
      `sandbox metadata: unsupported version ${JSON.stringify(parsed.Version)}`,
    );
  }
  const md = parsed.Metadata;
  const str = (k: string): string => {
    const v = md[k];
    if (typeof v !== 'string') throw invalidArgument(`sandbox metadata: ${k} must be a string`);
    return v;
  };
  const ips = md.AdditionalIPs ?? [];
  if (!Array.isArray(ips) || ips.some((ip) => typeof ip !== 'string')) {
    throw invalidArgument('sandbox metadata: AdditionalIPs must be strings');
  }
  const m: SandboxMetadata = {
    id: str('ID'),
    name: str('Name'),
    config: PodSandboxConfig.decode(Buffer.from(str('ConfigProto'), 'base64')),
    netnsPath: str('NetNSPath'),
    ip: str('IP'),
    additionalIps: ips as string[],
    runtimeHandler: str('RuntimeHandler'),
  };
  if (md.CNIResult !== null && md.CNIResult !== undefined) m.cniResult = md.CNIResult;
  return m;
}
