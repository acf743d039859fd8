import type { CommandEntry, CommandSpec } from './command.js';

/** `berth --help`, or a group's (`berth image`): the commands with their summaries. */
export function mainHelp(commands: readonly CommandEntry[], group?: string): string {
  const shown = commands.filter(
    (c) => !c.hidden && (group === undefined ? true : c.path[0] === group && c.path.length > 1),
  );
  const rows: [string, string][] = [];
  for (const c of shown) {
    const name =
      group === undefined && c.aliases?.some((a) => a.length === 1)
        ? (c.aliases.find((a) => a.length === 1) as string[])[0]
        : c.path.join(' ');
    rows.push([name as string, c.summary]);
  }
  rows.sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(...rows.map(([n]) => n.length)) + 3;
  const lines = rows.map(([n, s]) => `  ${n.padEnd(width)}${s}`);
  const head =
    group === undefined
      ? 'Usage:  berth [OPTIONS] COMMAND\n\nA command line for berthd and containerd, with docker\'s verbs.\n\nOptions:\n  -a, --address string     daemon socket (env CONTAINERD_ADDRESS, default /run/berth/berth.sock)\n  -n, --namespace string   namespace (env CONTAINERD_NAMESPACE, default "default")\n  -D, --debug              debug output\n      --data-root string   berth\'s state (env BERTH_DATA_ROOT, default /var/lib/berth-cli)\n  -v, --version            print the version\n\nCommands:\n'
      : `Usage:  berth ${group} COMMAND\n\nCommands:\n`;
  return `${head}${lines.join('\n')}\n\nRun 'berth${group === undefined ? '' : ` ${group}`} COMMAND --help' for more information on a command.\n`;
}

/** `berth <command> --help`: usage, summary, aliases and flags. */
export function commandHelp(entry: CommandEntry, spec: CommandSpec): string {
  const name = entry.path.join(' ');
  let text = `Usage:  berth ${name} ${spec.usage}\n\n${spec.summary}\n`;
  if (entry.aliases !== undefined && entry.aliases.length > 0) {
    text += `\nAliases:\n  ${[entry.path, ...entry.aliases].map((a) => a.join(' ')).join(', ')}\n`;
  }
  if (spec.flags.length > 0) {
    const rows = spec.flags.map((f) => {
      const short = f.short !== undefined ? `-${f.short}, ` : '    ';
      const value = f.type === 'bool' ? '' : ` ${f.value ?? (f.type === 'list' ? 'list' : f.type)}`;
      const def =
        f.default !== undefined && f.default !== false && f.default !== ''
          ? ` (default ${JSON.stringify(f.default)})`
          : '';
      return [`  ${short}--${f.name}${value}`, `${f.help}${def}`] as const;
    });
    const width = Math.max(...rows.map(([l]) => l.length)) + 3;
    text += `\nOptions:\n${rows.map(([l, h]) => `${l.padEnd(width)}${h}`).join('\n')}\n`;
  }
  return text;
}
