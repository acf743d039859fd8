import { Options } from '../../api/containerd/runc/options/oci.js';
import type { AnyValue } from '../../core/tasks/index.js';

/** The type URL containerd's clients give runc shim options. */
export const RUNC_OPTIONS_TYPE = 'containerd.runc.v1.Options';

const RUNC_RUNTIMES = new Set(['io.containerd.runc.v1', 'io.containerd.runc.v2']);

/**
 * The stock runc shim keeps runc's state under `/run/containerd/runc/<ns>`
 * unless the options name a root. berth gives its runc shims a root of
 * its own, so a containerd on the same host never sees (or collides with)
 * berth's containers. Options that name a root, or are not runc's, pass
 * through unchanged.
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
  if (!options.typeUrl.endsWith(RUNC_OPTIONS_TYPE)) return options;
  const decoded = Options.decode(options.value);
  if (decoded.root !== '') return options;
  return { typeUrl: options.typeUrl, value: Options.encode({ ...decoded, root }).finish() };
}
