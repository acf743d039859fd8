import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniNetworks } from '../cni/index.js';
import { invalidArgument, notImplemented } from '../core/errdefs/index.js';
import type { ImageStores } from '../core/transfer/index.js';
import {
  ContainersServiceKey,
  ContentServiceKey,
  DifferKey,
  ExchangeKey,
  GcKey,
  ImagesServiceKey,
  LeasesKey,
  PluginType,
  type Registration,
  SnapshotsServiceKey,
  TaskManagerKey,
} from '../plugin/index.js';
import type { GrpcService } from '../server/service.js';
import { CRI_PLUGIN_URI, criConfig } from './config.js';
import { ContainerService } from './container/index.js';
import { CriImages, imageServiceHandlers } from './images/index.js';
import { hostSpecFacts, realSpecHost, type SpecOptions } from './opts/index.js';
import { runtimeStatusHandlers } from './runtime-status.js';
import type { SandboxImages } from './sandbox/image.js';
import { CRI_NAMESPACE, SandboxManager } from './sandbox/manager.js';
import { sandboxHandlers } from './sandbox/service.js';
import type { ImageConfigLike } from './sandbox/spec.js';
import { criServices } from './service.js';
import { ContainerStatsCollector, SnapshotUsageStore } from './stats/index.js';
import { StreamingServer } from './streaming/index.js';

/** How often snapshot usage is measured for ImageFsInfo and stats (containerd: 1 min). */
const SNAPSHOT_USAGE_PERIOD_MS = 60_000;
/** containerd's oom_score_adj for pause processes. */
const SANDBOX_OOM_SCORE_ADJ = -998;

/**
 * `io.containerd.grpc.v1` `cri`: Kubernetes' CRI (RuntimeService and
 * ImageService) on berthd's main socket, as containerd's CRI plugin
 * (`disabled_plugins = ["io.containerd.grpc.v1.cri"]` turns it off). It
 * works in namespace k8s.io, reads containerd's CRI settings from
 * `[plugins."io.containerd.grpc.v1.cri"]`, and finds the pods of an earlier
 * run again before it serves. Its instance is the two services.
 */
export const criPlugin: Registration<GrpcService[]> = {
  type: PluginType.grpc,
  id: 'cri',
  requires: [
    PluginType.event,
    PluginType.service,
    PluginType.lease,
    PluginType.runtimeV2,
    PluginType.differ,
    PluginType.snapshotter,
    PluginType.gc,
  ],
  async init(ic) {
    const config = criConfig(ic.config, ic.log);
    const rootDir = ic.rootDir();
    const stateDir = ic.stateDir();
    const snapshotters = ic.get(SnapshotsServiceKey);
    const snapshotterName = config.containerd.snapshotter;
    const snapshotter = snapshotters.get(snapshotterName);
    if (snapshotter === undefined) {
      throw invalidArgument(
        `${CRI_PLUGIN_URI}: snapshotter ${JSON.stringify(snapshotterName)} is not loaded`,
      );
    }
    const stores: ImageStores = {
      content: ic.get(ContentServiceKey),
      images: ic.get(ImagesServiceKey),
      leases: ic.get(LeasesKey),
      snapshotter(name) {
        const s = snapshotters.get(name);
        if (s === undefined)
          throw invalidArgument(`snapshotter ${JSON.stringify(name)} not loaded`);
        return s;
      },
      applier: ic.get(DifferKey).applier,
    };
    const network = new CniNetworks({
      binDirs: [config.cni.binDir],
      confDir: config.cni.confDir,
      maxConfNum: config.cni.maxConfNum,
      cacheDir: join(stateDir, 'cni'),
      log: ic.log.child({ part: 'cni' }),
    });
    const images = new CriImages({
      stores,
      gc: ic.get(GcKey),
      snapshotter: snapshotterName,
      sandboxImage: config.sandboxImage,
      registry: config.registry,
      maxConcurrentDownloads: config.maxConcurrentDownloads,
      log: ic.log.child({ part: 'images' }),
    });
    // The sandbox part's view of the images: the pause image, pulled when missing.
    const sandboxImages: SandboxImages = {
      async ensure(ctx, ref) {
        const img = await images.ensure(ctx, ref);
        const c = (img.config.config ?? {}) as ImageConfigLike & {
          Labels?: Record<string, string>;
        };
        return {
          name: img.references[0] ?? img.id,
          id: img.id,
          chainId: img.chainId,
          config: c,
          labels: c.Labels ?? {},
        };
      },
    };
    const background = new AbortController();
    const usage = new SnapshotUsageStore(snapshotter, {
      namespace: CRI_NAMESPACE,
      signal: background.signal,
      log: ic.log.child({ part: 'snapshot-usage' }),
    });
    usage.start(SNAPSHOT_USAGE_PERIOD_MS);
    ic.exports.sandbox_image = config.sandboxImage;
    ic.exports.cni_conf_dir = config.cni.confDir;
    const sandboxes = new SandboxManager({
      containers: ic.get(ContainersServiceKey),
      snapshotter,
      snapshotterName,
      tasks: ic.get(TaskManagerKey),
      leases: stores.leases,
      images: sandboxImages,
      network,
      rootDir,
      stateDir,
      sandboxImage: config.sandboxImage,
      oomScoreAdj: config.restrictOomScoreAdj
        ? Math.max(SANDBOX_OOM_SCORE_ADJ, ownOomScoreAdj())
        : SANDBOX_OOM_SCORE_ADJ,
      log: ic.log.child({ part: 'sandbox' }),
    });
    await sandboxes.recover();
    const runc = config.containerd.runtimes[config.containerd.defaultRuntimeName];
    const specOptions: SpecOptions = {
      ...hostSpecFacts(),
      restrictOomScoreAdj: config.restrictOomScoreAdj,
      disableCgroup: config.disableCgroup,
      disableProcMount: config.disableProcMount,
      unsetSeccompProfile: config.unsetSeccompProfile,
      enableUnprivilegedPorts: config.enableUnprivilegedPorts,
      enableUnprivilegedIcmp: config.enableUnprivilegedIcmp,
      tolerateMissingHugetlbController: config.tolerateMissingHugetlbController,
      disableHugetlbController: config.disableHugetlbController,
      deviceOwnershipFromSecurityContext: config.deviceOwnershipFromSecurityContext,
      ...(runc !== undefined && {
        privilegedWithoutHostDevices: runc.privilegedWithoutHostDevices,
        podAnnotations: runc.podAnnotations,
        containerAnnotations: runc.containerAnnotations,
      }),
    };
    const mountpoint = join(ic.root, `${PluginType.snapshotter}.${snapshotterName}`);
    // The streaming server's runtime is the container part's (exec, attach); port-forward is the pods'.
    let containers: ContainerService | undefined;
    const streaming = new StreamingServer({
      address: config.streamServerAddress,
      port: config.streamServerPort,
      ...(config.streamIdleTimeoutMs > 0 && { streamIdleTimeoutMs: config.streamIdleTimeoutMs }),
      runtime: {
        exec: (id, cmd, o) => containers!.execStream(id, cmd, o),
        attach: (id, o) => containers!.attachStream(id, o),
        async portForward() {
          throw notImplemented('port forwarding is not implemented yet');
        },
      },
      log: ic.log.child({ part: 'streaming' }),
    });
    containers = new ContainerService({
      rootDir,
      stateDir,
      records: ic.get(ContainersServiceKey),
      snapshotters,
      tasks: ic.get(TaskManagerKey),
      leases: stores.leases,
      events: ic.get(ExchangeKey),
      sandboxes: sandboxes.store,
      images,
      spec: { options: specOptions, host: realSpecHost },
      maxLogLineSize: config.maxContainerLogLineSize,
      streaming,
      stats: new ContainerStatsCollector({ usage, mountpoint }),
      snapshotter: snapshotterName,
      log: ic.log.child({ part: 'containers' }),
    });
    sandboxes.podContainers = containers;
    await containers.recover({
      namespace: CRI_NAMESPACE,
      signal: background.signal,
      log: ic.log.child({ part: 'containers' }),
    });
    containers.start();
    await streaming.start();
    const services = criServices({
      runtime: [
        runtimeStatusHandlers({
          version: ic.daemon.version.version,
          config,
          networkStatus: () => network.status(),
          dirs: { rootDir, stateDir },
        }),
        sandboxHandlers(sandboxes, streaming),
        containers.handlers(),
      ],
      images: [
        imageServiceHandlers(images, {
          usage,
          mountpoint,
        }),
      ],
    });
    // Pods outlive berthd: closing stops only the plugin's own background work.
    closers.set(services, async () => {
      background.abort();
      usage.stop();
      await streaming.close();
      await containers?.close();
    });
    return services;
  },
  async close(services) {
    await closers.get(services)?.();
  },
};

/** What closing an instance stops, by instance. */
const closers = new WeakMap<GrpcService[], () => Promise<void>>();

/** berthd's own oom_score_adj (restrict_oom_score_adj: nothing asks for less). */
function ownOomScoreAdj(): number {
  return Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
}
