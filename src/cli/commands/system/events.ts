import { list, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth events`: the daemon's events as they happen, until interrupted.
 * containerd keeps no history of events: `--since` cannot be honoured.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Get real time events from the daemon',
  flags: [
    {
      name: 'filter',
      short: 'f',
      type: 'list',
      help: 'Filter output (namespace=, topic=, type=, event=, container=, or a containerd filter)',
    },
    { name: 'format', type: 'string', help: "Format the output: 'json' or a Go template" },
    { name: 'since', type: 'string', help: 'Not supported: containerd keeps no history of events' },
    {
      name: 'until',
      type: 'string',
      help: 'Stream events until this duration from now has passed (e.g. 10s)',
    },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    if (str(flags, 'since') !== undefined) {
      throw new CliError('events --since is not supported: containerd keeps no history of events');
    }
    const ev = await import('../../container/events.js');
    let filters: string[];
    try {
      filters = ev.eventFilters(list(flags, 'filter'), ctx.globals.namespace);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    const format = str(flags, 'format');
    let template: ((e: unknown) => string) | undefined;
    if (format !== undefined && format !== 'json' && format !== '') {
      const { formatOutput } = await import('../../format/index.js');
      template = (e) => formatOutput(format, 'list', [e]);
    }
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const until = str(flags, 'until');
    if (until !== undefined) {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(until);
      if (m === null)
        throw new CliError(
          `invalid value for --until: ${JSON.stringify(until)}: want a duration (10s, 1m)`,
        );
      const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
      setTimeout(stop, Number(m[1]) * unit).unref();
    }
    const client = await ctx.client();
    try {
      for await (const e of client.subscribe(filters, { signal: ac.signal })) {
        if (format === 'json') ctx.out(`${ev.eventJson(e)}\n`);
        else if (template !== undefined) {
          ctx.out(
            template({
              Time: ev.rfc3339Nano(e.timestampNanos),
              TimeNano: e.timestampNanos.toString(),
              Namespace: e.namespace,
              Topic: e.topic,
              Type: e.type,
              Event: JSON.parse(ev.eventJson(e)).event,
            }),
          );
        } else ctx.out(`${ev.eventLine(e)}\n`);
      }
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  },
};
