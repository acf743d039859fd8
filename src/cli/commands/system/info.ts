import { existsSync, readFileSync } from 'node:fs';
import { arch, cpus, hostname, machine, release, totalmem } from 'node:os';
import { str } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/** The stock runc shim's runtime (the client's DEFAULT_RUNTIME), which berthd and containerd both run. */
const RUNC_RUNTIME = 'io.containerd.runc.v2';

/**
 * `berth info`: docker's system information from the daemon (version,
 * containers by state, images, snapshotters and runtimes from the
 * Introspection service's plugins) and this host (kernel, OS, CPUs, memory,
 * cgroups), with berth's own directories.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Display system-wide information',
  flags: [
    {
      name: 'format',
      short: 'f',
      type: 'string',
      help: "Format the output: 'json' or a Go template",
    },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    const [{ listTasks }, { stateOf }, { bytesSize, formatOutput }, { clientVersion }] =
      await Promise.all([
        import('../../container/tasks.js'),
        import('../../container/view.js'),
        import('../../format/index.js'),
        import('../../version-info.js'),
      ]);
    const client = await ctx.client();
    const [version, server, plugins, containers, tasks, images, runtime] = await Promise.all([
      client.version(),
      // Older daemons lack the Server call; a failing plugin list leaves the lists empty.
      client.server().catch(() => ({ uuid: '', deprecations: [] })),
      client.introspection.plugins().catch(() => []),
      client.containerService().list(client.context()),
      listTasks(client),
      client.imageService().list(client.context()),
      client.defaultRuntime().catch(() => RUNC_RUNTIME),
    ]);
    const states = containers.map((c) => stateOf(tasks.get(c.id)));
    const ok = (type: string) =>
      plugins
        .filter((p) => p.type === type && p.initErr === undefined)
        .map((p) => p.id)
        .sort();
    const snapshotters = ok('io.containerd.snapshotter.v1');
    const g = ctx.globals;
    const cgroupVersion = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
    const info = {
      ID: server.uuid,
      Name: hostname(),
      Namespace: g.namespace,
      Containers: containers.length,
      ContainersRunning: states.filter((s) => s === 'running').length,
      ContainersPaused: states.filter((s) => s === 'paused').length,
      ContainersStopped: states.filter((s) => s === 'exited' || s === 'created').length,
      Images: images.length,
      Driver: snapshotters.includes('overlayfs') ? 'overlayfs' : (snapshotters[0] ?? ''),
      Snapshotters: snapshotters,
      // berthd runs berth's shim and the stock runc shim alike.
      Runtimes: [...new Set([runtime, RUNC_RUNTIME])],
      DefaultRuntime: runtime,
      CgroupDriver: 'cgroupfs',
      CgroupVersion: cgroupVersion,
      KernelVersion: release(),
      OperatingSystem: osName(),
      OSType: 'linux',
      Architecture: machine(),
      NCPU: cpus().length,
      MemTotal: totalmem(),
      ServerVersion: version.version,
      ServerRevision: version.revision,
      DaemonAddress: g.address,
      DataRoot: g.dataRoot,
      CNIPath: g.cniPath,
      CNIConfDir: g.cniConfDir,
      ClientInfo: { Version: clientVersion().version, NodeVersion: process.version, Arch: arch() },
      Plugins: plugins.map((p) => ({
        Type: p.type,
        ID: p.id,
        Status: p.initErr === undefined ? 'ok' : 'error',
      })),
    };
    const format = str(flags, 'format');
    if (format !== undefined && format !== '') {
      ctx.out(formatOutput(format, 'list', [info]));
      return 0;
    }
    const lines = [
      'Client:',
      ` Version:    ${info.ClientInfo.Version}`,
      ` Node.js:    ${info.ClientInfo.NodeVersion}`,
      '',
      'Server:',
      ` Containers: ${info.Containers}`,
      `  Running: ${info.ContainersRunning}`,
      `  Paused: ${info.ContainersPaused}`,
      `  Stopped: ${info.ContainersStopped}`,
      ` Images: ${info.Images}`,
      ` Server Version: ${info.ServerVersion}`,
      ` Storage Driver: ${info.Driver}`,
      ` Snapshotters: ${info.Snapshotters.join(' ')}`,
      ` Runtimes: ${info.Runtimes.join(' ')}`,
      ` Default Runtime: ${info.DefaultRuntime}`,
      ` Cgroup Driver: ${info.CgroupDriver}`,
      ` Cgroup Version: ${info.CgroupVersion}`,
      ` Kernel Version: ${info.KernelVersion}`,
      ` Operating System: ${info.OperatingSystem}`,
      ` OSType: ${info.OSType}`,
      ` Architecture: ${info.Architecture}`,
      ` CPUs: ${info.NCPU}`,
      ` Total Memory: ${bytesSize(info.MemTotal)}`,
      ` Name: ${info.Name}`,
      ` ID: ${info.ID}`,
      ` Namespace: ${info.Namespace}`,
      ` Daemon Address: ${info.DaemonAddress}`,
      ` Berth Root Dir: ${info.DataRoot}`,
      ` CNI Plugin Dir: ${info.CNIPath}`,
      ` CNI Config Dir: ${info.CNIConfDir}`,
    ];
    ctx.out(`${lines.join('\n')}\n`);
    return 0;
  },
};

/** /etc/os-release's PRETTY_NAME, or "Linux". */
function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}
