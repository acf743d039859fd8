import type { Writable } from 'node:stream';
import { bool, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth logs CONTAINER`: the container's json-file log (label `berth/log`)
 * as docker shows it; `-f` follows until the task exits (its `/tasks/exit`
 * event, or the task found stopped) or the user interrupts.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER',
  summary: 'Fetch the logs of a container',
  flags: [
    { name: 'details', type: 'bool', help: 'Show extra details provided to logs (not supported)' },
    { name: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
    {
      name: 'since',
      type: 'string',
      help: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
    {
      name: 'tail',
      short: 'n',
      type: 'string',
      help: 'Number of lines to show from the end of the logs',
      default: 'all',
    },
    { name: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
    {
      name: 'until',
      type: 'string',
      help: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, { flags, args }) {
    const [{ findContainer }, logs, { Labels }] = await Promise.all([
      import('../../lookup.js'),
      import('../../logs/index.js'),
      import('../../labels.js'),
    ]);
    const tailFlag = str(flags, 'tail') ?? 'all';
    let tail: number | 'all' = 'all';
    if (tailFlag !== 'all') {
      if (!/^-?\d+$/.test(tailFlag))
        throw new CliError(`invalid value for --tail: ${JSON.stringify(tailFlag)}`);
      const n = Number(tailFlag);
      tail = n < 0 ? 'all' : n;
    }
    const time = (name: string): Date | undefined => {
      const v = str(flags, name);
      if (v === undefined || v === '') return undefined;
      try {
        return logs.parseSince(v);
      } catch (err) {
        throw new CliError(`invalid value for --${name}: ${(err as Error).message}`);
      }
    };
    const since = time('since');
    const until = time('until');
    const ref = args[0] as string;
    const client = await ctx.client();
    const c = await findContainer(client, ref);
    const raw = c.labels[Labels.log];
    if (raw === undefined || raw === '') {
      throw new CliError(
        `container ${ref} has no logs: it was not made by berth (no ${Labels.log} label)`,
      );
    }
    let config: import('../../logs/index.js').LogConfig;
    try {
      config = JSON.parse(raw) as import('../../logs/index.js').LogConfig;
    } catch {
      throw new CliError(
        `container ${ref}: label ${Labels.log} is not a log configuration: ${raw}`,
      );
    }
    const follow = bool(flags, 'follow') && until === undefined;
    const ac = new AbortController();
    const stopOnSignal = () => ac.abort();
    if (follow) {
      process.once('SIGINT', stopOnSignal);
      void untilExit(client, c.id, ac);
    }
    try {
      await logs.readLogs(
        config,
        {
          follow,
          tail,
          ...(since && { since }),
          ...(until && { until }),
          timestamps: bool(flags, 'timestamps'),
          signal: ac.signal,
        },
        { stdout: ctx.io.stdout as Writable, stderr: ctx.io.stderr as Writable },
      );
    } finally {
      ac.abort();
      process.off('SIGINT', stopOnSignal);
    }
    return 0;
  },
};

/**
 * Aborts `ac` once the container's task has exited: the `/tasks/exit` event
 * of its init process, or at once when it has no running task. The
 * subscription is made before the task is looked at, so no exit is missed.
 */
async function untilExit(
  client: import('../../../client/index.js').Client,
  id: string,
  ac: AbortController,
): Promise<void> {
  const events = client.subscribe(
    [`topic=="/tasks/exit",namespace==${JSON.stringify(client.namespace ?? 'default')}`],
    { signal: ac.signal },
  );
  const first = events.next();
  try {
    const task = await (await client.loadContainer(id)).task();
    const st = await task.status();
    if (st.status !== 'running' && st.status !== 'paused' && st.status !== 'pausing') {
      ac.abort();
      return;
    }
    for (let next = first; ; next = events.next()) {
      const r = await next;
      if (r.done) return;
      const ev = r.value.event as { containerId?: string; id?: string } | undefined;
      if (ev?.containerId === id && (ev.id === id || ev.id === '' || ev.id === undefined)) break;
    }
    ac.abort();
  } catch {
    // No task (never started, or removed), or the stream ended: nothing more will be written.
    ac.abort();
  } finally {
    first.catch(() => undefined);
    void events.return(undefined).catch(() => undefined);
  }
}
