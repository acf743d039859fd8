import type { Container } from '../../../core/containers/index.js';
import { bool, int, list, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import type { TaskInfo } from '../../container/tasks.js';
import type { CliContext } from '../../context.js';
import { CliError } from '../../errors.js';

/**
 * `berth ps`: docker's container list. Two calls whatever the number of
 * containers: the namespace's container records, and its tasks.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'List containers',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      help: 'Show all containers (default shows just running)',
    },
    {
      name: 'filter',
      short: 'f',
      type: 'list',
      help: 'Filter output based on conditions provided',
    },
    {
      name: 'format',
      type: 'string',
      help: "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template",
    },
    {
      name: 'last',
      short: 'n',
      type: 'int',
      help: 'Show n last created containers (includes all states)',
      default: -1,
    },
    {
      name: 'latest',
      short: 'l',
      type: 'bool',
      help: 'Show the latest created container (includes all states)',
    },
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display container IDs' },
    {
      name: 'size',
      short: 's',
      type: 'bool',
      help: 'Display total file sizes (not supported: always 0B)',
    },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    const [{ parseFilters, formatOutput }, view, tasksMod] = await Promise.all([
      import('../../format/index.js'),
      import('../../container/view.js'),
      import('../../container/tasks.js'),
    ]);
    let filters: Map<string, string[]>;
    try {
      filters = parseFilters(list(flags, 'filter'));
      view.checkPsFilters(filters);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    const { records, tasks } = await listAll(ctx);
    let last = int(flags, 'last') ?? -1;
    if (bool(flags, 'latest')) last = 1;
    const all = bool(flags, 'all') || last > 0 || filters.has('status') || filters.has('exited');
    let rows = records
      .filter((c) => {
        const t = tasks.get(c.id);
        const state = view.stateOf(t);
        if (!all && state !== 'running' && state !== 'paused') return false;
        return view.matchesFilters(c, t, filters);
      })
      .sort((a, b) => (b.createdAt > a.createdAt ? 1 : b.createdAt < a.createdAt ? -1 : 0));
    if (last > 0) rows = rows.slice(0, last);
    const noTrunc = bool(flags, 'no-trunc');
    if (bool(flags, 'quiet')) {
      ctx.out(rows.map((c) => `${noTrunc ? c.id : c.id.slice(0, 12)}\n`).join(''));
      return 0;
    }
    const now = new Date();
    const views = rows.map((c) => {
      const t = tasks.get(c.id);
      const startedAt =
        t !== undefined && (t.status === 'running' || t.status === 'paused')
          ? tasksMod.processStartTime(t.pid)
          : undefined;
      return view.containerView(c, t, { now, noTrunc, ...(startedAt && { startedAt }) });
    });
    ctx.out(formatOutput(str(flags, 'format'), 'list', views, PS_TABLE));
    return 0;
  },
};

type Row = import('../../container/view.js').ContainerView;

/** docker ps's default table, and its headers for `table` templates. */
const PS_COLUMNS = [
  { header: 'CONTAINER ID', value: (r: Row) => r.ID },
  { header: 'IMAGE', value: (r: Row) => r.Image },
  { header: 'COMMAND', value: (r: Row) => r.Command },
  { header: 'CREATED', value: (r: Row) => r.RunningFor },
  { header: 'STATUS', value: (r: Row) => r.Status },
  { header: 'PORTS', value: (r: Row) => r.Ports },
  { header: 'NAMES', value: (r: Row) => r.Names },
];

const PS_TABLE = {
  columns: PS_COLUMNS,
  headers: {
    ID: 'CONTAINER ID',
    Image: 'IMAGE',
    Command: 'COMMAND',
    CreatedAt: 'CREATED AT',
    RunningFor: 'CREATED',
    Status: 'STATUS',
    State: 'STATE',
    Ports: 'PORTS',
    Names: 'NAMES',
    Labels: 'LABELS',
    Mounts: 'MOUNTS',
    Networks: 'NETWORKS',
    LocalVolumes: 'LOCAL VOLUMES',
    Size: 'SIZE',
  },
};

/**
 * The namespace's container records and tasks: two calls, over the client's
 * grpc-free path on a unix socket, else over the client. The grpc-free path
 * saves ~10 ms of ~120 (50 containers, the bundle with its code cache) and
 * fails at once when no daemon listens (the client waits its 10 s connect
 * timeout).
 */
async function listAll(ctx: CliContext): Promise<{
  records: Container[];
  tasks: Map<string, TaskInfo>;
}> {
  const [quick, tasksMod] = await Promise.all([
    import('../../../client/quick-list.js'),
    import('../../container/tasks.js'),
  ]);
  if (quick.unixSocketPath(ctx.globals.address) !== undefined) {
    const got = await quick.listContainersAndTasks(ctx.globals.address, ctx.globals.namespace);
    return {
      records: got.containers,
      tasks: new Map(got.tasks.map((t) => [t.id, tasksMod.taskFromListed(t)])),
    };
  }
  const client = await ctx.client();
  const [records, tasks] = await Promise.all([
    client.containerService().list(client.context()),
    tasksMod.listTasks(client),
  ]);
  return { records, tasks };
}
