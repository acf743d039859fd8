import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/** `berth completion bash|zsh|fish`: the shell's completion script, from the command table and every command's flags. */
export const command: CommandSpec = {
  usage: 'bash|zsh|fish',
  summary: 'Generate the autocompletion script for the specified shell',
  flags: [],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, { args }) {
    const shell = args[0] as string;
    const [{ COMMANDS }, completion] = await Promise.all([
      import('../../commands.js'),
      import('../../completion.js'),
    ]);
    const make = {
      bash: completion.bashCompletion,
      zsh: completion.zshCompletion,
      fish: completion.fishCompletion,
    }[shell];
    if (make === undefined) {
      throw new CliError(`unsupported shell ${JSON.stringify(shell)}: want bash, zsh or fish`);
    }
    ctx.out(make(await completion.completionCommands(COMMANDS)));
    return 0;
  },
};
