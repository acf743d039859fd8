import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports, as
 * docker prints them (`80/tcp -> 127.0.0.1:8080`), or the host addresses
 * of one port.
 */
export const command: CommandSpec = {
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  summary: 'List port mappings or a specific mapping for the container',
  flags: [],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx, { args }) {
    const [{ findContainer }, { portsOf }] = await Promise.all([
      import('../../lookup.js'),
      import('../../container/view.js'),
    ]);
    const client = await ctx.client();
    const c = await findContainer(client, args[0] as string);
    const ports = portsOf(c.labels).sort(
      (a, b) => a.containerPort - b.containerPort || a.protocol.localeCompare(b.protocol),
    );
    const host = (p: { hostIP: string; hostPort: number }) =>
      `${p.hostIP || '0.0.0.0'}:${p.hostPort}`;
    const want = args[1];
    if (want === undefined) {
      ctx.out(ports.map((p) => `${p.containerPort}/${p.protocol} -> ${host(p)}\n`).join(''));
      return 0;
    }
    const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(want);
    if (m === null) throw new CliError(`invalid port ${JSON.stringify(want)}: want PORT[/PROTO]`);
    const port = Number(m[1]);
    const proto = m[2] ?? 'tcp';
    const found = ports.filter((p) => p.containerPort === port && p.protocol === proto);
    if (found.length === 0) {
      throw new CliError(`No public port '${port}/${proto}' published for ${args[0]}`);
    }
    ctx.out(found.map((p) => `${host(p)}\n`).join(''));
    return 0;
  },
};
