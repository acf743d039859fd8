import type { CommandEntry } from './command.js';
import { CONTAINER_COMMANDS } from './commands/container-commands.js';
import { IMAGE_COMMANDS } from './commands/image-commands.js';
import { SYSTEM_COMMANDS } from './commands/system-commands.js';

/**
 * Every command, by docker's names: the management form (`image ls`,
 * `container run`) and the short forms docker keeps (`images`, `run`, `ps`).
 * Each module is imported only when its command runs.
 */
export const COMMANDS: readonly CommandEntry[] = [
  ...IMAGE_COMMANDS,
  ...CONTAINER_COMMANDS,
  ...SYSTEM_COMMANDS,
];

/** The command named by the start of `args` (longest path or alias first), and the arguments after it. */
export function findCommand(
  args: readonly string[],
): { entry: CommandEntry; rest: readonly string[] } | undefined {
  let best: { entry: CommandEntry; rest: readonly string[]; len: number } | undefined;
  for (const e of COMMANDS) {
    for (const path of [e.path, ...(e.aliases ?? [])]) {
      if (path.length > args.length || (best !== undefined && path.length <= best.len)) continue;
      if (path.every((p, i) => args[i] === p)) {
        best = { entry: e, rest: args.slice(path.length), len: path.length };
      }
    }
  }
  if (best !== undefined) return { entry: best.entry, rest: best.rest };
  // A group typed alone (`berth image`): its first command stands for it in help.
  const group = COMMANDS.find((e) => e.path.length > 1 && e.path[0] === args[0]);
  if (group !== undefined && (args.length === 1 || args[1] === '--help' || args[1] === '-h')) {
    return { entry: { ...group, path: [args[0] as string] }, rest: [] };
  }
  return undefined;
}
