import type { CommandEntry, CommandSpec } from './command.js';

const GROUPS: Readonly<Record<string, string>> = {
  container: 'Manage containers',
  image: 'Manage images',
  namespace: 'Manage namespaces',
  system: 'Manage berth and the daemon',
};

function rowsText(rows: [string, string][]): string {
  rows.sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(...rows.map(([n]) => n.length)) + 3;
  return rows.map(([n, s]) => `  ${n.padEnd(width)}${s}`).join('\n');
}

/**
 * `berth --help`: the management commands (groups) and the commands people
 * type (docker's short forms); or a group's commands (`berth image`).
 */
export function mainHelp(commands: readonly CommandEntry[], group?: string): string {
  const shown = commands.filter((c) => !c.hidden);
  if (group !== undefined) {
    const rows = shown
      .filter((c) => c.path[0] === group && c.path.length > 1)
      .map((c): [string, string] => [c.path.slice(1).join(' '), c.summary]);
    return `Usage:  berth ${group} COMMAND\n\n${GROUPS[group] ?? ''}\n\nCommands:\n${rowsText(rows)}\n\nRun 'berth ${group} COMMAND --help' for more information on a command.\n`;
  }
  const groups = [
    ...new Set(shown.filter((c) => c.path.length > 1).map((c) => c.path[0] as string)),
  ];
  const management = groups.map((g): [string, string] => [g, GROUPS[g] ?? '']);
  const common = shown
    .filter((c) => c.path.length === 1 || c.aliases?.some((a) => a.length === 1))
    .map((c): [string, string] => [
      c.path.length === 1
        ? (c.path[0] as string)
        : (c.aliases?.find((a) => a.length === 1)?.[0] ?? c.path.join(' ')),
      c.summary,
    ]);
  return (
    "Usage:  berth [OPTIONS] COMMAND\n\nA command line for berthd and containerd, with docker's verbs.\n\n" +
    'Options:\n' +
    '  -a, --address string          daemon socket (env CONTAINERD_ADDRESS, default /run/berth/berth.sock)\n' +
    '  -n, --namespace string        namespace (env CONTAINERD_NAMESPACE, default "default")\n' +
    '  -D, --debug                   debug output: stacks of errors\n' +
    "      --data-root string        berth's state (env BERTH_DATA_ROOT, default /var/lib/berth-cli)\n" +
    '      --cni-path string         CNI plugins (env BERTH_CNI_PATH, default /usr/lib/cni)\n' +
    '      --cni-netconfpath string  CNI networks (env BERTH_CNI_NETCONFPATH, default /etc/berth/cni/net.d)\n' +
    '      --hosts-dir string        registry hosts.toml (env BERTH_HOSTS_DIR, default /etc/berth/certs.d)\n' +
    '  -v, --version                 print the version\n\n' +
    `Management Commands:\n${rowsText(management)}\n\nCommands:\n${rowsText(common)}\n\n` +
    "Run 'berth COMMAND --help' for more information on a command.\n"
  );
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
