/**
 * Pods through the CRI, berthd side by side with Debian's containerd 1.6.20 (its CRI plugin) in the
 * same run, both on the test harness's set-up (test/helpers/cri.ts: one config file, the critest
 * images served by a local registry through hosts.toml mirrors, one test bridge and subnet with
 * bridge + host-local + portmap). Driven by a gRPC client of runtime.v1 (the generated
 * `src/api/k8s/cri/runtime/v1/api.ts`), one channel per daemon, so the client's cost is the same on
 * both sides and no crictl process start is timed.
 *
 *   node --import tsx bench/cri-pods.ts [--runs 10] [--pods 20] [--only berthd|containerd] [--json]
 *
 * `--only` measures one daemon (no ratios), e.g. to check the bench itself against containerd.
 *
 * 1. Pod start: RunPodSandbox, then CreateContainer and StartContainer of one busybox
 *    (`sleep 3600`) in it: wall ms of the three calls, --runs times per daemon, alternating which
 *    daemon goes first, after one untimed pod each (the first pays for the shim and runc loads).
 *    Each pod is stopped and removed, untimed, before the next.
 * 2. Many pods: --pods pods started one after the other as in 1 (seconds), then each stopped and
 *    removed (StopPodSandbox, RemovePodSandbox: seconds); one daemon at a time. Afterwards the
 *    bench checks that the daemon lists no pod or container and that no pod IP is still allocated.
 *
 * Ratios are berthd / containerd: below 1 is better.
 */
import { parseArgs } from 'node:util';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import {
  ContainerConfig,
  type CreateContainerResponse,
  ImageServiceClient,
  ListContainersRequest,
  type ListContainersResponse,
  ListPodSandboxRequest,
  type ListPodSandboxResponse,
  PodSandboxConfig,
  PullImageRequest,
  type RunPodSandboxResponse,
  RuntimeServiceClient,
} from '../src/api/k8s/cri/runtime/v1/api.js';
import { CriEnv } from '../test/helpers/cri.js';
import { CriRuntime, type CriRuntimeKind } from '../test/helpers/cri-runtime.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    pods: { type: 'string', default: '20' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const PODS = Number(values.pods);
for (const [k, v] of Object.entries({ RUNS, PODS })) {
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`--${k.toLowerCase()} must be a positive integer`);
}

const KINDS: CriRuntimeKind[] =
  values.only === undefined ? ['berthd', 'containerd'] : [values.only as CriRuntimeKind];
if (!KINDS.every((k) => k === 'berthd' || k === 'containerd')) {
  throw new Error(`--only ${values.only}: expected berthd or containerd`);
}

const BUSYBOX = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';

/** A unary call of a generated grpc-js client method, as a promise. */
function unary<Res>(
  fn: (cb: (err: ServiceError | null, res: Res) => void) => unknown,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn((err, res) => (err ? reject(err) : resolve(res)));
  });
}

class Cri {
  readonly rt: RuntimeServiceClient;
  readonly img: ImageServiceClient;
  private seq = 0;

  constructor(
    readonly kind: CriRuntimeKind,
    readonly runtime: CriRuntime,
    private readonly logDir: string,
  ) {
    const address = `unix://${runtime.socket}`;
    this.rt = new RuntimeServiceClient(address, credentials.createInsecure());
    this.img = new ImageServiceClient(address, credentials.createInsecure());
  }

  async pull(image: string): Promise<void> {
    await unary((cb) => this.img.pullImage(PullImageRequest.fromPartial({ image: { image } }), cb));
  }

  /** RunPodSandbox, CreateContainer, StartContainer; returns the pod id. */
  async startPod(name: string): Promise<string> {
    const n = this.seq++;
    const config = PodSandboxConfig.fromPartial({
      metadata: {
        name: `${name}-${n}`,
        namespace: 'bench',
        uid: `${this.kind}-${name}-${n}`,
        attempt: 0,
      },
      hostname: `${name}-${n}`,
      logDirectory: this.logDir,
      linux: {},
    });
    const { podSandboxId } = await unary<RunPodSandboxResponse>((cb) =>
      this.rt.runPodSandbox({ config, runtimeHandler: '' }, cb),
    );
    const { containerId } = await unary<CreateContainerResponse>((cb) =>
      this.rt.createContainer(
        {
          podSandboxId,
          config: ContainerConfig.fromPartial({
            metadata: { name: 'sleep', attempt: 0 },
            image: { image: BUSYBOX },
            command: ['sleep', '3600'],
            logPath: `sleep-${n}.log`,
            linux: {},
          }),
          sandboxConfig: config,
        },
        cb,
      ),
    );
    await unary((cb) => this.rt.startContainer({ containerId }, cb));
    return podSandboxId;
  }

  /** StopPodSandbox (kills its containers), RemovePodSandbox (removes them). */
  async removePod(id: string): Promise<void> {
    await unary((cb) => this.rt.stopPodSandbox({ podSandboxId: id }, cb));
    await unary((cb) => this.rt.removePodSandbox({ podSandboxId: id }, cb));
  }

  async counts(): Promise<{ pods: number; containers: number }> {
    const pods = await unary<ListPodSandboxResponse>((cb) =>
      this.rt.listPodSandbox(ListPodSandboxRequest.fromPartial({}), cb),
    );
    const ctrs = await unary<ListContainersResponse>((cb) =>
      this.rt.listContainers(ListContainersRequest.fromPartial({}), cb),
    );
    return { pods: pods.items.length, containers: ctrs.containers.length };
  }

  close(): void {
    this.rt.close();
    this.img.close();
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  if (q === 0.5) {
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 1
      ? (s[mid] as number)
      : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  }
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
}

async function timedMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

interface Result {
  start: { runsMs: number[]; medianMs: number; p90Ms: number };
  many: { n: number; startS: number; removeS: number };
}

async function main(): Promise<void> {
  const log = (s: string) => {
    if (!values.json) console.error(s);
  };
  const env = await CriEnv.start();
  const sides: Cri[] = [];
  try {
    for (const kind of KINDS) {
      const runtime = await CriRuntime.start(kind, env);
      sides.push(new Cri(kind, runtime, env.scratch(`logs-${kind}`)));
    }
    for (const x of sides) {
      await x.pull(BUSYBOX);
      // one untimed pod: the first pulls the pause image and loads the shim and runc
      await x.removePod(await x.startPod('warmup'));
    }

    const results = {} as Record<CriRuntimeKind, Result>;
    for (const x of sides) {
      results[x.kind] = {
        start: { runsMs: [], medianMs: 0, p90Ms: 0 },
        many: { n: PODS, startS: 0, removeS: 0 },
      };
    }
    for (let r = 0; r < RUNS; r++) {
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const x of order) {
        let id = '';
        const ms = await timedMs(async () => {
          id = await x.startPod('start');
        });
        results[x.kind].start.runsMs.push(ms);
        await x.removePod(id);
      }
    }
    for (const x of sides) {
      const s = results[x.kind].start;
      s.medianMs = quantile(s.runsMs, 0.5);
      s.p90Ms = quantile(s.runsMs, 0.9);
      log(`${x.kind}: pod start median ${s.medianMs.toFixed(0)} ms, p90 ${s.p90Ms.toFixed(0)} ms`);
    }

    for (const x of sides) {
      const ids: string[] = [];
      const m = results[x.kind].many;
      m.startS =
        (await timedMs(async () => {
          for (let i = 0; i < PODS; i++) ids.push(await x.startPod('many'));
        })) / 1000;
      m.removeS =
        (await timedMs(async () => {
          for (const id of ids) await x.removePod(id);
        })) / 1000;
      const left = await x.counts();
      if (left.pods !== 0 || left.containers !== 0) {
        throw new Error(`${x.kind}: ${left.pods} pods and ${left.containers} containers left`);
      }
      log(
        `${x.kind}: ${PODS} pods started in ${m.startS.toFixed(1)} s, removed in ${m.removeS.toFixed(1)} s`,
      );
    }
    const ips = env.network.allocatedIps();
    if (ips.length > 0) throw new Error(`pod IPs still allocated: ${ips.join(', ')}`);

    const b = results.berthd;
    const c = results.containerd;
    if (b === undefined || c === undefined) {
      const x = (b ?? c) as Result;
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ runs: RUNS, pods: PODS, results }, null, 2)}\n`);
      } else {
        console.log(
          `${KINDS[0]} alone: pod start median ${x.start.medianMs.toFixed(0)} ms, p90 ${x.start.p90Ms.toFixed(0)} ms; ${PODS} pods started in ${x.many.startS.toFixed(2)} s, removed in ${x.many.removeS.toFixed(2)} s`,
        );
      }
      return;
    }
    const ratio = {
      startMedian: b.start.medianMs / c.start.medianMs,
      startP90: b.start.p90Ms / c.start.p90Ms,
      manyStart: b.many.startS / c.many.startS,
      manyRemove: b.many.removeS / c.many.removeS,
    };
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ runs: RUNS, pods: PODS, results, ratio }, null, 2)}\n`,
      );
      return;
    }
    const n = (v: number, d = 0) => v.toFixed(d).padStart(9);
    const rx = (v: number) => `${v.toFixed(2)}x`.padStart(9);
    console.log(
      `pod start (RunPodSandbox + CreateContainer + StartContainer of one busybox): ${RUNS} per daemon, alternating; wall ms`,
    );
    console.log('daemon        median       p90');
    console.log(`berthd     ${n(b.start.medianMs)} ${n(b.start.p90Ms)}`);
    console.log(`containerd ${n(c.start.medianMs)} ${n(c.start.p90Ms)}`);
    console.log(`ratio      ${rx(ratio.startMedian)} ${rx(ratio.startP90)}`);
    console.log('');
    console.log(`${PODS} pods started one after the other, then stopped and removed; seconds`);
    console.log('daemon        start    remove');
    console.log(`berthd     ${n(b.many.startS, 2)} ${n(b.many.removeS, 2)}`);
    console.log(`containerd ${n(c.many.startS, 2)} ${n(c.many.removeS, 2)}`);
    console.log(`ratio      ${rx(ratio.manyStart)} ${rx(ratio.manyRemove)}`);
    console.log('left afterwards: no pod, container or pod IP (checked)');
    console.log('ratio = berthd / containerd: below 1 is better');
  } finally {
    for (const x of sides) {
      x.close();
      await x.runtime.close();
    }
    await env.close();
  }
}

await main();
