/**
 * Where a berthd pod start goes, phase by phase: berthd alone on the test harness's CRI set-up
 * (as bench/cri-pods.ts), at debug log level, so its own step marks are logged (RunPodSandbox's
 * `pod sandbox running` with ms since the call began per step; CreateContainer's and
 * StartContainer's `container created` / `container started` likewise). Prints the median of each
 * step over --runs pods, the client's wall ms per call, and berthd's CPU ms per pod start
 * (/proc/<pid>/stat utime+stime, so the shims, runc and CNI plugins, other processes, are not in it).
 *
 *   node --import tsx bench/cri-pod-phases.ts [--runs 20] [--keep] [--cpu-prof <dir>]
 *
 * `--keep` keeps the pods running until the end (as bench/cri-pods.ts's many pods), else each is
 * stopped and removed before the next. *
 * `--cpu-prof <preload.cjs>` starts berthd with that preload (NODE_OPTIONS=--require; node 20
 * refuses --cpu-prof there), sent SIGUSR2 at the end: a preload that starts the inspector's
 * profiler and writes the profile on SIGUSR2 (bench/README.md has one).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import {
  ContainerConfig,
  type CreateContainerResponse,
  ImageServiceClient,
  PodSandboxConfig,
  PullImageRequest,
  type RunPodSandboxResponse,
  RuntimeServiceClient,
} from '../src/api/k8s/cri/runtime/v1/api.js';
import { Berthd } from '../test/helpers/berthd.js';
import { Containerd } from '../test/helpers/containerd.js';
import { CriEnv } from '../test/helpers/cri.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    'cpu-prof': { type: 'string' },
    keep: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'debug' },
    containerd: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a positive integer');
const BUSYBOX = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';

function unary<Res>(
  fn: (cb: (err: ServiceError | null, res: Res) => void) => unknown,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn((err, res) => (err ? reject(err) : resolve(res)));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1
    ? (s[mid] as number)
    : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

async function main(): Promise<void> {
  if (values['cpu-prof'] !== undefined) {
    // node 20 refuses --cpu-prof in NODE_OPTIONS: a preload profiles through the inspector instead
    process.env.NODE_OPTIONS = `--require ${values['cpu-prof']}`;
  }
  const env = await CriEnv.start();
  const dir = env.scratch('berthd-phases');
  const runtime = values.containerd
    ? await Containerd.start({ path: dir, remove: () => {} }, { configFile: env.config })
    : await Berthd.start({
        dir: { path: dir, remove: () => {} },
        args: ['--config', env.config, '--log-level', values['log-level']],
      });
  delete process.env.NODE_OPTIONS;
  const address = `unix://${runtime.socket}`;
  const rt = new RuntimeServiceClient(address, credentials.createInsecure());
  const img = new ImageServiceClient(address, credentials.createInsecure());
  const logDir = env.scratch('logs-phases');
  const kept: string[] = [];
  const removePod = async (podSandboxId: string) => {
    await unary((cb) => rt.stopPodSandbox({ podSandboxId }, cb));
    await unary((cb) => rt.removePodSandbox({ podSandboxId }, cb));
  };
  const calls: Record<string, number[]> = { run: [], create: [], start: [], total: [], cpu: [] };
  try {
    await unary((cb) =>
      img.pullImage(PullImageRequest.fromPartial({ image: { image: BUSYBOX } }), cb),
    );
    for (let i = 0; i <= RUNS; i++) {
      const config = PodSandboxConfig.fromPartial({
        metadata: { name: `ph-${i}`, namespace: 'bench', uid: `ph-${i}`, attempt: 0 },
        hostname: `ph-${i}`,
        logDirectory: logDir,
        linux: {},
      });
      const c0 = cpuMs(runtime.pid);
      const t0 = performance.now();
      const { podSandboxId } = await unary<RunPodSandboxResponse>((cb) =>
        rt.runPodSandbox({ config, runtimeHandler: '' }, cb),
      );
      const t1 = performance.now();
      const { containerId } = await unary<CreateContainerResponse>((cb) =>
        rt.createContainer(
          {
            podSandboxId,
            config: ContainerConfig.fromPartial({
              metadata: { name: 'sleep', attempt: 0 },
              image: { image: BUSYBOX },
              command: ['sleep', '3600'],
              logPath: `sleep-${i}.log`,
              linux: {},
            }),
            sandboxConfig: config,
          },
          cb,
        ),
      );
      const t2 = performance.now();
      await unary((cb) => rt.startContainer({ containerId }, cb));
      const t3 = performance.now();
      const c1 = cpuMs(runtime.pid);
      if (i > 0) {
        // the first pod pays for the pause pull and the shim's and runc's first loads
        calls.run?.push(t1 - t0);
        calls.create?.push(t2 - t1);
        calls.start?.push(t3 - t2);
        calls.total?.push(t3 - t0);
        calls.cpu?.push(c1 - c0);
      }
      if (values.keep) kept.push(podSandboxId);
      else await removePod(podSandboxId);
    }
    if (values['cpu-prof'] !== undefined) {
      // the profile covers the starts (and, without --keep, the removals between them)
      process.kill(runtime.pid, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 2000));
    }
    for (const id of kept) await removePod(id);
  } finally {
    rt.close();
    img.close();
  }
  const steps: Record<string, Record<string, number[]>> = {};
  for (const line of runtime.output.split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { msg?: string; ms?: Record<string, number> };
    try {
      rec = JSON.parse(line);
    } catch {
      continue;
    }
    if (rec.ms === undefined || rec.msg === undefined) continue;
    const byStep = steps[rec.msg] ?? {};
    steps[rec.msg] = byStep;
    for (const [k, v] of Object.entries(rec.ms)) byStep[k] = [...(byStep[k] ?? []), v];
  }
  if (values.keep) {
    const tens = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
    console.log(`pod start wall ms, in order: ${tens(calls.total ?? [])}`);
    console.log(`  RunPodSandbox: ${tens(calls.run ?? [])}`);
  }
  console.log(
    `${values.containerd ? 'containerd' : 'berthd'} alone, ${RUNS} pods (after one untimed); medians`,
  );
  const cpu = calls.cpu ?? [];
  console.log(
    `  cpu mean ${(cpu.reduce((a, b) => a + b, 0) / cpu.length).toFixed(1)} ms per pod start (clock ticks: the mean, not the median)`,
  );
  for (const [k, xs] of Object.entries(calls)) {
    console.log(
      `  ${k.padEnd(8)} ${median(xs).toFixed(1).padStart(7)} ms${k === 'cpu' ? " (the daemon's CPU per pod start)" : ''}`,
    );
  }
  for (const [msg, byStep] of Object.entries(steps)) {
    console.log(
      `${msg}: ms since the call began, per step (median of ${Object.values(byStep)[0]?.length})`,
    );
    for (const [k, xs] of Object.entries(byStep))
      console.log(`  ${k.padEnd(14)} ${median(xs).toFixed(0).padStart(5)}`);
  }
  await runtime.stop();
  await env.close();
}

await main();
