import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth top CONTAINER [ps OPTIONS]`: the task's processes (the Tasks
 * service's ListPids) shown by the host's `ps` (default `-ef`, as docker),
 * keeping only the lines of those pids.
 */
export const command: CommandSpec = {
  usage: 'CONTAINER [ps OPTIONS]',
  summary: 'Display the running processes of a container',
  flags: [],
  minArgs: 1,
  stopAtPositional: true,
  async run(ctx, { args }) {
    const [{ findContainer }, { isNotFound }, { execFile }] = await Promise.all([
      import('../../lookup.js'),
      import('../../../client/index.js'),
      import('node:child_process'),
    ]);
    const ref = args[0] as string;
    const client = await ctx.client();
    const record = await findContainer(client, ref);
    const container = await client.loadContainer(record.id);
    const task = await container.task().catch((err: unknown) => {
      if (isNotFound(err)) throw new CliError(`container ${ref} is not running`);
      throw err;
    });
    const st = await task.status();
    if (st.status !== 'running' && st.status !== 'paused') {
      throw new CliError(`container ${ref} is not running`);
    }
    const pids = new Set((await task.pids()).map((p) => p.pid));
    const psArgs = args.length > 1 ? args.slice(1) : ['-ef'];
    const out = await new Promise<string>((resolve, reject) => {
      execFile('ps', psArgs, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        if (err)
          reject(new CliError(`ps ${psArgs.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
    });
    ctx.out(filterPs(out, pids));
    return 0;
  },
};

/** The header of `ps` output and the lines of `pids` (docker's parsePSOutput: the PID column found by its header). */
export function filterPs(output: string, pids: ReadonlySet<number>): string {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0];
  if (header === undefined) return '';
  const col = header.trim().split(/\s+/).indexOf('PID');
  if (col < 0) throw new CliError("Couldn't find PID field in ps output");
  const rows = lines.slice(1).filter((l) => pids.has(Number(l.trim().split(/\s+/)[col])));
  return `${[header, ...rows].join('\n')}\n`;
}
