import type { CommandEntry, CommandSpec } from './command.js';

type Loader = () => Promise<{ command: CommandSpec }>;

/** A command table row: its module is imported by `load` only when the command runs. */
export function entry(
  path: string[],
  summary: string,
  load: Loader,
  more: { aliases?: string[][]; hidden?: boolean } = {},
): CommandEntry {
  return { path, summary, load: () => load().then((m) => m.command), ...more };
}
