import { join } from 'node:path';
import { Options } from '../api/containerd/runc/options/oci.js';
import { ContainerState } from '../api/k8s/cri/runtime/v1/api.js';
import { CniNetworks } from '../cni/index.js';
import type { AnyValue } from '../core/containers/index.js';
import { invalidArgument, isNotFound, notFound } from '../core/errdefs/index.js';
import {
  ContainersServiceKey,
  ExchangeKey,
  GcKey,
  imageStores,
  PluginType,
  type Registration,
  SnapshotsServiceKey,
  TaskManagerKey,
} from '../plugin/index.js';
import type { GrpcService } from '../server/service.js';
import { CRI_PLUGIN_URI, type CriRuntimeConfig, criConfig } from './config.js';
import { ContainerService } from './container/service.js';
import { CriImages, imageServiceHandlers } from './images/index.js';
import { hostSpecFacts, type ImageConfig, realSpecHost, type SpecOptions } from './opts/index.js';
import { runtimeStatusHandlers } from './runtime-status.js';
import type { SandboxImages } from './sandbox/image.js';
import { CRI_NAMESPACE, SandboxManager, type SandboxRuntime } from './sandbox/manager.js';
import { sandboxHandlers } from './sandbox/service.js';
import { criServices } from './service.js';
import { ContainerStatsCollector, SnapshotUsageStore } from './stats/index.js';
import { StreamingServer } from './streaming/index.js';

/** How often snapshot usage is measured for ImageFsInfo and stats (containerd: 1 min). */
const SNAPSHOT_USAGE_PERIOD_MS = 60_000;

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
    const stores = imageStores(ic);
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
        const c = (img.config.config ?? {}) as ImageConfig;
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
    const mountpoint = join(ic.root, `${PluginType.snapshotter}.${snapshotterName}`);
    ic.exports.sandbox_image = config.sandboxImage;
    ic.exports.cni_conf_dir = config.cni.confDir;
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
    const runtime = (handler: string): SandboxRuntime => {
      const name = handler === '' ? config.containerd.defaultRuntimeName : handler;
      const rt = config.containerd.runtimes[name];
      if (rt === undefined)
        throw notFound(`no runtime for ${JSON.stringify(handler)} is configured`);
      const options = runtimeOptions(rt, join(ic.state, 'runc'));
      return { type: rt.type, ...(options && { options }) };
    };
    const tasks = ic.get(TaskManagerKey);
    const records = ic.get(ContainersServiceKey);
    const sandboxes = new SandboxManager({
      runtime,
      containers: records,
      snapshotter,
      snapshotterName,
      tasks,
      leases: stores.leases,
      images: sandboxImages,
      network,
      rootDir,
      stateDir,
      sandboxImage: config.sandboxImage,
      specOptions,
      log: ic.log.child({ part: 'sandbox' }),
    });
    // The streaming server runs the containers' exec and attach and the pods' port forwards.
    let containers: ContainerService | undefined;
    const streaming = new StreamingServer({
      address: config.streamServerAddress,
      port: config.streamServerPort,
      streamIdleTimeoutMs: config.streamIdleTimeoutMs,
      log: ic.log.child({ part: 'streaming' }),
      runtime: {
        exec: (id, cmd, o) => (containers as ContainerService).execStream(id, cmd, o),
        attach: (id, o) => (containers as ContainerService).attachStream(id, o),
        portForward: (id, port, stream) => sandboxes.portForward(id, port, stream),
      },
    });
    containers = new ContainerService({
      rootDir,
      stateDir,
      records,
      snapshotters,
      tasks,
      leases: stores.leases,
      events: ic.get(ExchangeKey),
      sandboxes: sandboxes.store,
      images,
      spec: { options: specOptions, host: realSpecHost },
      maxLogLineSize: config.maxContainerLogLineSize,
      ignoreImageDefinedVolumes: config.ignoreImageDefinedVolumes,
      streaming,
      stats: new ContainerStatsCollector({ usage, mountpoint }),
      // Containers run on their pod's runtime, taken from the pod's record (as containerd).
      snapshotter: snapshotterName,
      log: ic.log.child({ part: 'containers' }),
    });
    const cs = containers;
    sandboxes.podContainers = {
      stopAll: (ctx, id) => cs.stopAll(ctx, id),
      removeAll: (ctx, id) => cs.removeAll(ctx, id),
      async stats(ctx, id) {
        const filter = { id: '', podSandboxId: id, labelSelector: {} };
        return (await cs.listContainerStats(ctx, { filter })).stats;
      },
      async processCount(ctx, id) {
        const running = cs.listContainers(ctx, {
          filter: {
            id: '',
            podSandboxId: id,
            state: { state: ContainerState.CONTAINER_RUNNING },
            labelSelector: {},
          },
        }).containers;
        let n = 0;
        for (const c of running) {
          try {
            n += (await tasks.get(ctx, c.id).pids(ctx)).length;
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        return n;
      },
    };
    const ctx = { namespace: CRI_NAMESPACE, signal: background.signal, log: ic.log };
    try {
      await sandboxes.recover();
      await containers.recover(ctx);
      containers.start();
      await streaming.start();
    } catch (err) {
      background.abort();
      usage.stop();
      await containers.close();
      await streaming.close();
      throw err;
    }
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
      images: [imageServiceHandlers(images, { usage, mountpoint })],
    });
    // Pods outlive berthd: closing stops only the plugin's own work (monitors, streams, measuring).
    closers.set(services, async () => {
      background.abort();
      usage.stop();
      await streaming.close();
      await containers.close();
    });
    return services;
  },
  async close(services) {
    await closers.get(services)?.();
  },
};

/** What closing an instance stops, by instance. */
const closers = new WeakMap<GrpcService[], () => Promise<void>>();

/**
 * runc's shim options for a configured runtime: its Root (default
 * `<state>/runc`, runc's state under berthd's own), SystemdCgroup and
 * BinaryName; other runtimes get none.
 */
function runtimeOptions(rt: CriRuntimeConfig, defaultRoot: string): AnyValue | undefined {
  if (!RUNC_TYPES.has(rt.type)) return undefined;
  const options = Options.fromPartial({
    root: rt.root !== '' ? rt.root : defaultRoot,
    systemdCgroup: rt.systemdCgroup,
    binaryName: rt.binaryName,
  });
  return { typeUrl: RUNC_OPTIONS_TYPE, value: Options.encode(options).finish() };
}

const RUNC_TYPES = new Set(['io.containerd.runc.v1', 'io.containerd.runc.v2']);
const RUNC_OPTIONS_TYPE = 'containerd.runc.v1.Options';
