import type { Readable } from 'node:stream';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth internal oci-hook <stage> <hook args>`: what runc runs for the
 * OCI hooks berth puts in a container's spec (createRuntime: CNI ADD;
 * postStop: CNI DEL), with the OCI state on stdin. Hidden: people never
 * type it. Its flags are the hook's own (see src/cli/network's
 * parseHookArgs), so every argument is passed through unparsed.
 */
export const command: CommandSpec = {
  usage: 'createRuntime|postStop [HOOK ARGS]',
  summary: 'Run an OCI hook of a berth container (runc runs it)',
  flags: [],
  stopAtPositional: true,
  minArgs: 1,
  async run(ctx, { args }) {
    const stage = args[0] as string;
    if (stage !== 'createRuntime' && stage !== 'postStop') {
      throw new CliError(
        `oci-hook: unknown stage ${JSON.stringify(stage)}: want createRuntime or postStop`,
      );
    }
    const { parseHookArgs, runOciHook } = await import('../../network/index.js');
    const { flags } = parseHookArgs(args.slice(1));
    await runOciHook(stage, flags, ctx.io.stdin as Readable);
    return 0;
  },
};
