import { bool, str } from '../args.js';
import type { CommandSpec } from '../command.js';
import { CliError, errorLine } from '../errors.js';
import { clientVersion } from '../version-info.js';

/** `berth version`: the client's version, and the daemon's unless `--client` (docker's shape). */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Show the berth version information',
  flags: [
    {
      name: 'format',
      short: 'f',
      type: 'string',
      help: "format the output: 'json' or a Go template",
    },
    { name: 'client', type: 'bool', help: 'only the client part: do not contact the daemon' },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    const c = clientVersion();
    const client = {
      Version: c.version,
      GitCommit: c.revision,
      NodeVersion: c.nodeVersion,
      Os: c.os,
      Arch: c.arch,
    };
    let server: { Address: string; Version: string; GitCommit: string } | undefined;
    let serverError: unknown;
    if (!bool(flags, 'client')) {
      try {
        const cl = await ctx.client();
        const v = await cl.version({ signal: AbortSignal.timeout(5000) });
        server = { Address: ctx.globals.address, Version: v.version, GitCommit: v.revision };
      } catch (err) {
        serverError = err;
      }
    }
    const format = str(flags, 'format');
    const data = { Client: client, ...(server !== undefined && { Server: server }) };
    if (format === 'json') {
      ctx.out(`${JSON.stringify(data)}\n`);
    } else if (format !== undefined) {
      const { compileTemplate } = await import('../format/template.js');
      ctx.out(`${compileTemplate(format)(data)}\n`);
    } else {
      let text =
        `Client:\n Version:\t${client.Version}\n Git commit:\t${client.GitCommit}\n` +
        ` Node.js:\t${client.NodeVersion}\n OS/Arch:\t${client.Os}/${client.Arch}\n`;
      if (server !== undefined) {
        text += `\nServer:\n Address:\t${server.Address}\n Version:\t${server.Version}\n Git commit:\t${server.GitCommit}\n`;
      }
      ctx.out(text.replace(/\t/g, '  '));
    }
    if (serverError !== undefined) {
      throw new CliError(
        `cannot reach the daemon at ${ctx.globals.address}: ${errorLine(serverError)}`,
      );
    }
    return 0;
  },
};
