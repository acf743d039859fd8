import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Options } from '../../api/containerd/runc/options/oci.js';
import type { AnyValue } from '../../core/tasks/index.js';
import { BERTH_RUNTIME } from '../../shim/group.js';

/** The type URL containerd's clients give runc shim options. */
export const RUNC_OPTIONS_TYPE = 'containerd.runc.v1.Options';

/** Runtimes whose shims take runc's `Options` and keep runc's state under its `root`. */
const RUNC_RUNTIMES = new Set(['io.containerd.runc.v1', 'io.containerd.runc.v2', BERTH_RUNTIME]);

/** Field number of `root` in runc's `Options`. */
const ROOT_FIELD = 7;

/**
 * The stock runc shim keeps runc's state under `/run/containerd/runc/<ns>`
 * unless the options name a root, and so does berth's shim
 * (`io.containerd.berth.v1`). berth gives both a root of its own, so a
 * containerd on the same host never sees (or collides with) berth's
 * containers. Options that name a root, or are not runc's, pass through
 * unchanged. berth's shim also takes a superset of runc's Options (plus
 * `string group = 100`, under a `*.Options` type URL): the root is appended to the
 * bytes as they are (protobuf keeps the last value of a field), so what
 * runc's message does not know survives.
 */
export function withRuncRoot(
  runtime: string,
  options: AnyValue | undefined,
  root: string,
): AnyValue | undefined {
  if (!RUNC_RUNTIMES.has(runtime)) return options;
  if (options === undefined) {
    return {
      typeUrl: RUNC_OPTIONS_TYPE,
      value: Options.encode(Options.fromPartial({ root })).finish(),
    };
  }
  const runcShaped =
    options.typeUrl.endsWith(RUNC_OPTIONS_TYPE) ||
    (runtime === BERTH_RUNTIME && options.typeUrl.endsWith('.Options'));
  if (!runcShaped) return options;
  try {
    if (Options.decode(options.value).root !== '') return options;
  } catch {
    return options; // not runc's fields: the shim says what it makes of them
  }
  const field = new BinaryWriter()
    .uint32((ROOT_FIELD << 3) | 2)
    .string(root)
    .finish();
  const value = new Uint8Array(options.value.length + field.length);
  value.set(options.value);
  value.set(field, options.value.length);
  return { typeUrl: options.typeUrl, value };
}
