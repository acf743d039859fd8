/**
 * Containers and tasks with the real `ctr`, berthd side by side with Debian's
 * containerd in the same run: both drive the stock containerd-shim-runc-v2
 * and runc, with the same image (busybox-static, built offline, pushed to a
 * docker-registry on 127.0.0.1 that the bench starts, pulled into both).
 *
 *   node --import tsx bench/run.ts [--runs 20] [--containers 50] [--concurrency 4] [--json]
 *
 * 1. Start latency: `ctr run --rm <img> <id> true`, --runs times per daemon,
 *    alternating which daemon goes first each round, after one untimed run
 *    each. Wall clock of the whole ctr command (create, start, wait, delete):
 *    median and p90 per daemon.
 * 2. Many containers: --containers `ctr run -d <img> c<i> sleep 1000`, one
 *    after the other; then the daemon's VmRSS and RssAnon (VmRSS less the
 *    file-backed pages: for berthd, about 40 MiB of it is the node binary's
 *    text, shared and reclaimable), and the number and total VmRSS
 *    of its shims (separate processes, one per container with the stock
 *    shim). Then each is removed (`ctr tasks kill -s SIGKILL`, `ctr tasks rm
 *    -f`, `ctr containers rm`) and the bench checks that no task, container,
 *    active snapshot, shim, bundle or mount is left. The same again with
 *    --concurrency `ctr run -d` in flight.
 *
 * Each daemon works in a namespace of its own whose name carries this
 * process's pid: every containerd on the host keeps runc's state under
 * /run/containerd/runc/<namespace>/<id>.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ctrOkAsync, taskList } from '../test/helpers/ctr.js';
import {
  alive,
  bundles,
  mountsUnder,
  shimPids,
  startDaemon,
  type TestDaemon,
  waitFor,
} from '../test/helpers/daemon.js';
import { buildAndPush, busyboxImage } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { tempDir } from '../test/helpers/tmp.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    containers: { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const CONTAINERS = Number(values.containers);
const CONCURRENCY = Number(values.concurrency);
for (const [k, v] of Object.entries({ RUNS, CONTAINERS, CONCURRENCY })) {
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`--${k.toLowerCase()} must be a positive integer`);
}

type Name = 'berthd' | 'containerd';

interface Daemon {
  name: Name;
  d: TestDaemon;
  namespace: string;
}

interface Many {
  /** Containers created and started. */
  n: number;
  /** `ctr run -d` in flight. */
  concurrency: number;
  /** Wall seconds for all of them. */
  createS: number;
  /** Wall seconds to kill and remove them all. */
  removeS: number;
  /** The daemon's VmRSS before the first and after the last (KiB). */
  daemonRssBeforeKiB: number;
  daemonRssKiB: number;
  /** The daemon's anonymous memory (RssAnon) after the last (KiB). */
  daemonAnonKiB: number;
  shims: number;
  /** Sum of the shims' VmRSS (KiB). */
  shimsRssKiB: number;
}

interface Result {
  start: { runsMs: number[]; medianMs: number; p90Ms: number };
  many: Many[];
}

function ctr(x: Daemon, args: string[], timeoutMs = 60_000): Promise<string> {
  return ctrOkAsync(x.d.socket, args, { namespace: x.namespace, timeoutMs });
}

function rssKiB(pid: number, field = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0; // gone meanwhile
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  if (q === 0.5) {
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  }
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function timedMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Rows of a ctr table, header dropped. */
function rows(out: string): string[][] {
  return out
    .trim()
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/));
}

/** Fails unless the daemon's namespace has no task, container, active snapshot, shim, bundle or mount left. */
async function checkEmpty(x: Daemon, what: string): Promise<void> {
  const tasks = await taskList(x.d.socket, { namespace: x.namespace });
  const containers = (await ctr(x, ['containers', 'ls', '-q'])).split('\n').filter((l) => l !== '');
  const active = rows(await ctr(x, ['snapshots', 'ls'])).filter((r) => r.at(-1) !== 'Committed');
  await waitFor(`${x.name}'s shims to exit after ${what}`, () =>
    shimPids(x.d.socket).every((p) => !alive(p)),
  );
  const mounts = mountsUnder(x.d.dir.path);
  const left = [
    ...bundles(x.d.state).map((b) => `bundle ${b.path}`),
    ...tasks.map((t) => `task ${t.id} ${t.status}`),
    ...containers.map((c) => `container ${c}`),
    ...active.map((r) => `snapshot ${r[0]} ${r.at(-1)}`),
    ...mounts.map((m) => `mount ${m}`),
  ];
  if (left.length > 0) throw new Error(`${x.name}: left after ${what}:\n${left.join('\n')}`);
}

async function many(x: Daemon, image: string, concurrency: number): Promise<Many> {
  const ids = Array.from({ length: CONTAINERS }, (_, i) => `c${i}`);
  const daemonRssBeforeKiB = rssKiB(x.d.pid);
  let next = 0;
  const createS =
    (await timedMs(() =>
      Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < ids.length) {
            const id = ids[next++]!;
            await ctr(x, ['run', '-d', image, id, 'sleep', '1000']);
          }
        }),
      ),
    )) / 1000;
  const running = (await taskList(x.d.socket, { namespace: x.namespace })).filter(
    (t) => t.status === 'RUNNING',
  );
  if (running.length !== ids.length) {
    throw new Error(`${x.name}: ${running.length} of ${ids.length} tasks running`);
  }
  const daemonRssKiB = rssKiB(x.d.pid);
  const daemonAnonKiB = rssKiB(x.d.pid, 'RssAnon');
  const shims = shimPids(x.d.socket);
  const shimsRssKiB = shims.reduce((a, p) => a + rssKiB(p), 0);

  // `sleep` as pid 1 has no handler for SIGTERM, which the kernel then drops:
  // SIGKILL it. `tasks rm -f` waits for the exit before deleting.
  const removeS =
    (await timedMs(async () => {
      for (const id of ids) await ctr(x, ['tasks', 'kill', '-s', 'SIGKILL', id]);
      for (const id of ids) await ctr(x, ['tasks', 'rm', '-f', id]);
      for (const id of ids) await ctr(x, ['containers', 'rm', id]);
    })) / 1000;
  await checkEmpty(x, `removing ${ids.length} containers`);
  return {
    n: ids.length,
    concurrency,
    createS,
    removeS,
    daemonRssBeforeKiB,
    daemonRssKiB,
    daemonAnonKiB,
    shims: shims.length,
    shimsRssKiB,
  };
}

async function main(): Promise<void> {
  const work = tempDir('berth-bench-run-');
  let registry: Registry | undefined;
  const daemons: Daemon[] = [];
  const log = (s: string) => {
    if (!values.json) console.error(s);
  };
  try {
    registry = await Registry.start(work);
    const built = await buildAndPush(work, registry, busyboxImage(), 'bench/run:1');
    const image = built.pushed.ref;
    for (const name of ['berthd', 'containerd'] as const) {
      daemons.push({ name, d: await startDaemon(name), namespace: `bench-${process.pid}-${name}` });
    }
    for (const x of daemons) {
      await ctr(x, ['images', 'pull', '--plain-http', image]);
      // One untimed run: the first start pays for loading the shim binary and runc.
      await ctr(x, ['run', '--rm', image, 'warmup', 'true']);
    }
    await registry.stop();
    registry = undefined;

    const results = {} as Record<Name, Result>;
    for (const x of daemons)
      results[x.name] = { start: { runsMs: [], medianMs: 0, p90Ms: 0 }, many: [] };
    for (let r = 0; r < RUNS; r++) {
      const order = r % 2 === 0 ? daemons : [...daemons].reverse();
      for (const x of order) {
        const ms = await timedMs(() => ctr(x, ['run', '--rm', image, `r${r}`, 'true']));
        results[x.name].start.runsMs.push(ms);
      }
    }
    for (const x of daemons) {
      const s = results[x.name].start;
      s.medianMs = quantile(s.runsMs, 0.5);
      s.p90Ms = quantile(s.runsMs, 0.9);
      log(
        `${x.name}: ctr run --rm median ${s.medianMs.toFixed(0)} ms, p90 ${s.p90Ms.toFixed(0)} ms`,
      );
    }
    await Promise.all(daemons.map((x) => checkEmpty(x, `${RUNS} ctr run --rm`)));

    for (const concurrency of [...new Set([1, CONCURRENCY])]) {
      // One daemon at a time: neither's containers load the other's figures.
      const order = concurrency === 1 ? daemons : [...daemons].reverse();
      for (const x of order) {
        const m = await many(x, image, concurrency);
        results[x.name].many.push(m);
        log(
          `${x.name}: ${m.n} × ctr run -d (${concurrency} in flight) ${m.createS.toFixed(1)} s, removed in ${m.removeS.toFixed(1)} s`,
        );
      }
    }

    if (values.json) {
      const b = results.berthd;
      const c = results.containerd;
      process.stdout.write(
        `${JSON.stringify(
          {
            runs: RUNS,
            containers: CONTAINERS,
            results,
            ratio: {
              startMedian: b.start.medianMs / c.start.medianMs,
              startP90: b.start.p90Ms / c.start.p90Ms,
              many: b.many.map((m, i) => ({
                concurrency: m.concurrency,
                createS: m.createS / (c.many[i]?.createS ?? Number.NaN),
                daemonRssKiB: m.daemonRssKiB / (c.many[i]?.daemonRssKiB ?? Number.NaN),
                daemonAnonKiB: m.daemonAnonKiB / (c.many[i]?.daemonAnonKiB ?? Number.NaN),
              })),
            },
          },
          null,
          2,
        )}\n`,
      );
      return;
    }
    const b = results.berthd;
    const c = results.containerd;
    const n = (x: number, d = 0) => x.toFixed(d).padStart(9);
    const ratio = (x: number) => `${x.toFixed(2)}x`.padStart(9);
    const mib = (kib: number) => (kib / 1024).toFixed(1).padStart(9);
    console.log(
      `ctr run --rm <busybox> <id> true: ${RUNS} runs per daemon, alternating; wall ms of the whole ctr command`,
    );
    console.log('daemon        median       p90');
    console.log(`berthd     ${n(b.start.medianMs)} ${n(b.start.p90Ms)}`);
    console.log(`containerd ${n(c.start.medianMs)} ${n(c.start.p90Ms)}`);
    console.log(
      `ratio      ${ratio(b.start.medianMs / c.start.medianMs)} ${ratio(b.start.p90Ms / c.start.p90Ms)}`,
    );
    console.log('');
    console.log(
      `${CONTAINERS} × ctr run -d <busybox> c<i> sleep 1000, then kill, tasks rm, containers rm; RSS in MiB after the last start`,
    );
    console.log(
      'daemon     in flight  create s  ms each  remove s  RSS idle   RSS now  anon now  shims  shims RSS  MiB/shim',
    );
    for (const [i, cm] of c.many.entries()) {
      const bm = b.many[i]!;
      for (const [who, m] of [
        ['berthd', bm],
        ['containerd', cm],
      ] as const) {
        console.log(
          `${who.padEnd(10)} ${n(m.concurrency)} ${n(m.createS, 1)} ${n((m.createS * 1000) / m.n)} ${n(m.removeS, 1)} ${mib(m.daemonRssBeforeKiB)} ${mib(m.daemonRssKiB)} ${mib(m.daemonAnonKiB)} ${String(m.shims).padStart(6)} ${mib(m.shimsRssKiB)} ${mib(m.shimsRssKiB / Math.max(1, m.shims))}`,
        );
      }
      console.log(
        `${'ratio'.padEnd(10)} ${''.padStart(9)} ${ratio(bm.createS / cm.createS)} ${''.padStart(9)} ${ratio(bm.removeS / cm.removeS)} ${ratio(bm.daemonRssBeforeKiB / cm.daemonRssBeforeKiB)} ${ratio(bm.daemonRssKiB / cm.daemonRssKiB)} ${ratio(bm.daemonAnonKiB / cm.daemonAnonKiB)}`,
      );
    }
    console.log(
      'left after each phase: no task, container, active snapshot, shim, bundle or mount (checked)',
    );
    console.log('ratio = berthd / containerd: below 1 is better');
  } finally {
    await registry?.stop();
    // cleanup() reaps whatever a failed phase left (tasks, shims, mounts) before removing the dirs.
    for (const x of daemons) await x.d.cleanup();
    work.remove();
  }
}

await main();
