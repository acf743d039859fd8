import type { Readable, Writable } from 'node:stream';
import type { CommandSpec } from '../../command.js';

/**
 * `berth internal oci-hook createRuntime|postStop <hook args>`: what runc
 * runs as a container's network hooks (src/cli/network/spec.ts puts them in
 * the spec; the OCI state comes on stdin). Hidden: not for people.
 */
export const command: CommandSpec = {
  usage: 'STAGE [HOOK ARGS...]',
  summary: "Run a container's network hook (runc runs it)",
  flags: [],
  // The hook's own arguments (--data-root …) follow the stage: all of them are its.
  stopAtPositional: true,
  minArgs: 1,
  async run(ctx, { args }) {
    const { ociHookMain } = await import('../../network/hook.js');
    return ociHookMain(args, ctx.io.stdin as Readable, ctx.io.stderr as Writable);
  },
};
