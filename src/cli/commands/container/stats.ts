import { totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { bool, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/**
 * `berth stats [CONTAINER...]`: the running containers' (with `-a` all)
 * resource use, refreshed every second until interrupted, or once with
 * `--no-stream` (two samples a second apart, for the CPU figure).
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] [CONTAINER...]',
  summary: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      help: 'Show all containers (default shows just running)',
    },
    {
      name: 'format',
      type: 'string',
      help: "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template",
    },
    {
      name: 'no-stream',
      type: 'bool',
      help: 'Disable streaming stats and only pull the first result',
    },
    { name: 'no-trunc', type: 'bool', help: 'Do not truncate output' },
  ],
  async run(ctx, { flags, args }) {
    const [{ formatOutput }, stats, { listTasks }, { findContainer, containerName }, clientMod] =
      await Promise.all([
        import('../../format/index.js'),
        import('../../container/stats.js'),
        import('../../container/tasks.js'),
        import('../../lookup.js'),
        import('../../../client/index.js'),
      ]);
    const client = await ctx.client();
    const records =
      args.length > 0
        ? await Promise.all(args.map((a) => findContainer(client, a)))
        : await client.containerService().list(client.context());
    const hostMemory = totalmem();
    const noTrunc = bool(flags, 'no-trunc');
    const format = str(flags, 'format');
    const stream = !bool(flags, 'no-stream');
    const signal = stopSignal();
    const prev = new Map<string, import('../../container/stats.js').StatsSample>();

    const sample = async () => {
      const tasks = await listTasks(client);
      const shown = records.filter((c) => {
        const st = tasks.get(c.id)?.status;
        return args.length > 0 || bool(flags, 'all') || st === 'running' || st === 'paused';
      });
      return Promise.all(
        shown.map(async (c) => {
          const t = tasks.get(c.id);
          const live = t !== undefined && (t.status === 'running' || t.status === 'paused');
          if (!live) return { c, cur: undefined, net: { rx: 0, tx: 0 } };
          // The listed task stands for the container's: no Get call per container.
          const task = new clientMod.Task(client.taskScope(), c.id, t.pid, undefined);
          const m = await task.metrics().catch(() => undefined);
          const cur = stats.sampleOf(clientMod.decodeMetrics(m?.data), Date.now(), hostMemory);
          return { c, cur, net: stats.netIO(t.pid) };
        }),
      );
    };

    for (let first = true; ; first = false) {
      const got = await sample();
      const rows = got.map(({ c, cur, net }) => {
        const row = stats.statsRow(
          c.id,
          containerName(c),
          prev.get(c.id),
          cur,
          net,
          hostMemory,
          noTrunc,
        );
        if (cur !== undefined) prev.set(c.id, cur);
        return row;
      });
      // The first round only primes the CPU figure.
      if (!first || (!stream && got.every((g) => g.cur === undefined))) {
        if (stream && ctx.io.stdout.isTTY === true) ctx.out('\x1b[2J\x1b[H');
        ctx.out(formatOutput(format, 'list', rows, stats.STATS_TABLE));
        if (!stream) return 0;
      }
      try {
        await sleep(1000, undefined, { signal });
      } catch {
        return 0;
      }
    }
  },
};

/** Aborted by Ctrl-C (SIGINT) or SIGTERM: streaming ends quietly, exit 0. */
function stopSignal(): AbortSignal {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ac.signal;
}
