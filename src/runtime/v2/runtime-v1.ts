import { CreateOptions, RuncOptions } from '../../api/containerd/linux/runc/runc.js';
import { Options } from '../../api/containerd/runc/options/oci.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { AnyValue } from '../../core/tasks/index.js';
import { RUNC_OPTIONS_TYPE } from './runc-options.js';

/** containerd's deprecated v1 runtime (the `containerd-shim` of 1.x; gone in containerd 2.0). */
export const RUNTIME_LINUX_V1 = 'io.containerd.runtime.v1.linux';

/** The runtime whose shim runs v1 tasks here. */
const RUNC_V2 = 'io.containerd.runc.v2';

const RUNC_OPTIONS_V1_TYPE = 'containerd.linux.runc.RuncOptions';
const CREATE_OPTIONS_V1_TYPE = 'containerd.linux.runc.CreateOptions';

/**
 * The runtime whose shim serves tasks of `runtime`. berth has no v1 shim:
 * containerd 1.6 runs `io.containerd.runtime.v1.linux` containers with
 * runc through its v1 shim, berth runs them with runc through the runc v2
 * shim (so `shim_paths` for `io.containerd.runc.v2` applies to them too).
 */
export function shimRuntime(runtime: string): string {
  return runtime === RUNTIME_LINUX_V1 ? RUNC_V2 : runtime;
}

/**
 * The runc v2 shim's `Options` for a v1 task: the container's runtime
 * options (`RuncOptions`: runc binary, runc root, CRIU, systemd cgroups)
 * and the task's create options (`CreateOptions`) merged, as containerd's
 * v1 runtime hands the first to runc and the second to its shim. The
 * create options that only steer a restore (open_tcp, external_unix_sockets,
 * terminal, file_locks, empty_namespaces, cgroups_mode) have no place in
 * `Options` and are dropped. Options of any other type are
 * `invalid_argument`, as containerd refuses them.
 */
export function fromV1Options(
  runtimeOptions: AnyValue | undefined,
  taskOptions: AnyValue | undefined,
): AnyValue {
  const r = decodeAs(runtimeOptions, RUNC_OPTIONS_V1_TYPE, RuncOptions, 'runtime');
  const c = decodeAs(taskOptions, CREATE_OPTIONS_V1_TYPE, CreateOptions, 'task');
  const options = Options.fromPartial({
    binaryName: r?.runtime ?? '',
    root: r?.runtimeRoot ?? '',
    criuPath: r?.criuPath ?? '',
    systemdCgroup: r?.systemdCgroup ?? false,
    noPivotRoot: c?.noPivotRoot ?? false,
    noNewKeyring: c?.noNewKeyring ?? false,
    shimCgroup: c?.shimCgroup ?? '',
    ioUid: c?.ioUid ?? 0,
    ioGid: c?.ioGid ?? 0,
    criuWorkPath: c?.criuWorkPath ?? '',
    criuImagePath: c?.criuImagePath ?? '',
  });
  return { typeUrl: RUNC_OPTIONS_TYPE, value: Options.encode(options).finish() };
}

function decodeAs<T>(
  any: AnyValue | undefined,
  type: string,
  codec: { decode(input: Uint8Array): T },
  what: string,
): T | undefined {
  if (any === undefined || (any.typeUrl === '' && any.value.length === 0)) return undefined;
  if (any.typeUrl !== type && !any.typeUrl.endsWith(`/${type}`)) {
    throw invalidArgument(
      `invalid ${what} options format for runtime ${RUNTIME_LINUX_V1}: ${JSON.stringify(any.typeUrl)}, expected ${type}`,
    );
  }
  try {
    return codec.decode(any.value);
  } catch (err) {
    throw invalidArgument(`${what} options ${type}: ${(err as Error).message}`, { cause: err });
  }
}
