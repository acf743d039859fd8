import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CriTools, criEnvVars } from './cri.js';

/** Specs skipped on purpose everywhere (cri-tools' README): upstream's digest cannot be rebuilt offline. */
export const CRITEST_SKIP = 'public image with digest';

export type SpecStatus = 'passed' | 'failed' | 'skipped' | 'pending' | 'panicked' | 'interrupted';

export interface SpecResult {
  /** The spec's full text as the JUnit report names it, e.g. `[It] [k8s.io] Container runtime ... should ...`. */
  name: string;
  status: SpecStatus;
  /** Seconds. */
  time: number;
  /** The failure's message and location, for failed specs. */
  failure?: string;
}

export interface CritestRun {
  /** critest's exit code (1 when any spec failed). */
  code: number | null;
  /** Wall time of the whole run, in seconds. */
  seconds: number;
  /** Interrupted at `timeoutMs`: the specs that had not run yet are missing or `interrupted`. */
  timedOut: boolean;
  /** Every spec of the report, setup nodes (`[BeforeSuite]` ...) excluded. */
  specs: SpecResult[];
  /** critest's verbose output, kept in this file. */
  log: string;
  junit: string;
}

export interface CritestOptions {
  /** Where the JUnit report, the log and critest's TMPDIR go. */
  dir: string;
  /** `--ginkgo.focus`, to run a subset while debugging. */
  focus?: string;
  /** Extra `--ginkgo.skip` regexps (besides {@link CRITEST_SKIP}). */
  skip?: string[];
  /** Interrupt critest after this long (ms): SIGTERM, SIGKILL 30 s later; default 20 min. */
  timeoutMs?: number;
  /** Kills critest when aborted (pass the test's `t.signal`: a cancelled test stops its critest). */
  signal?: AbortSignal;
}

/**
 * Runs critest against one CRI endpoint (both services on `socket`) as cri-tools' README does:
 * proxies unset, a scratch TMPDIR, seed 1, serial, the digest spec skipped, a JUnit report; then
 * parses the report. It does not throw on failed specs: the caller compares.
 */
export async function runCritest(
  tools: CriTools,
  socket: string,
  opts: CritestOptions,
): Promise<CritestRun> {
  const junit = join(opts.dir, 'critest.xml');
  const log = join(opts.dir, 'critest.log');
  const tmp = join(opts.dir, 'tmp');
  const ep = `unix://${socket}`;
  const skip = [CRITEST_SKIP, ...(opts.skip ?? [])].join('|');
  const args = [
    '-runtime-endpoint',
    ep,
    '-image-endpoint',
    ep,
    '--ginkgo.v',
    '--ginkgo.no-color',
    '--ginkgo.seed',
    '1',
    '--ginkgo.skip',
    skip,
    '--ginkgo.junit-report',
    junit,
    ...(opts.focus === undefined ? [] : ['--ginkgo.focus', opts.focus]),
  ];
  mkdirSync(tmp, { recursive: true });
  const out = createWriteStream(log);
  const started = Date.now();
  const proc = spawn(tools.critest, args, {
    cwd: opts.dir,
    env: criEnvVars({ TMPDIR: tmp }),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.signal && { signal: opts.signal, killSignal: 'SIGKILL' as const }),
  });
  proc.stdout.pipe(out, { end: false });
  proc.stderr.pipe(out, { end: false });
  // On SIGTERM ginkgo interrupts the suite, runs its cleanups and still writes the report;
  // SIGKILL if it does not exit within 30 s after that.
  let timedOut = false;
  let killer: NodeJS.Timeout | undefined;
  const timer = setTimeout(
    () => {
      timedOut = true;
      proc.kill('SIGTERM');
      killer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    },
    opts.timeoutMs ?? 20 * 60_000,
  );
  const code = await new Promise<number | null>((res, rej) => {
    proc.once('error', (err) => {
      // an abort kills critest and reports AbortError here: wait for the exit all the same
      if (err.name !== 'AbortError') rej(err);
    });
    proc.once('close', (c) => res(c));
  });
  clearTimeout(timer);
  clearTimeout(killer);
  await new Promise<void>((r) => out.end(r));
  const seconds = (Date.now() - started) / 1000;
  let xml: string;
  try {
    xml = readFileSync(junit, 'utf8');
  } catch (err) {
    throw new Error(
      `critest exited ${code} without a JUnit report (${(err as Error).message}); its log: ${log}`,
    );
  }
  return { code, seconds, timedOut, specs: parseJunit(xml), log, junit };
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number.parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? '';
  });
}

function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:-]+)="([^"]*)"/g)) {
    out[m[1] as string] = unescapeXml(m[2] as string);
  }
  return out;
}

/**
 * The `<testcase>` elements of ginkgo v2's JUnit report: name, `status` (ginkgo writes it; older
 * reports are read from the `<failure>`/`<skipped>` children), time and the failure message.
 * Suite-level nodes (`[BeforeSuite]`, `[AfterSuite]`, `[SynchronizedBeforeSuite]`, ...) are left out.
 */
export function parseJunit(xml: string): SpecResult[] {
  const specs: SpecResult[] = [];
  const re = /<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const a = attrs(m[1] as string);
    const body = m[2] ?? '';
    const name = a.name ?? '';
    if (
      /^\[(Synchronized)?(Before|After)Suite\]|^\[ReportAfterSuite\]|^\[ReportBeforeSuite\]/.test(
        name,
      )
    )
      continue;
    const failure = /<(failure|error)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/.exec(body);
    let status = a.status as SpecStatus | undefined;
    if (status === undefined) {
      status = failure ? 'failed' : /<skipped\b/.test(body) ? 'skipped' : 'passed';
    }
    const spec: SpecResult = { name, status, time: Number(a.time ?? 0) };
    if (failure) {
      const fa = attrs(failure[2] as string);
      spec.failure = [fa.message, unescapeXml(failure[3] ?? '').trim()]
        .filter((x) => x !== undefined && x !== '')
        .join('\n');
    }
    specs.push(spec);
  }
  return specs;
}

/** Counts per status. */
export function tally(specs: SpecResult[]): Record<SpecStatus, number> {
  const t: Record<SpecStatus, number> = {
    passed: 0,
    failed: 0,
    skipped: 0,
    pending: 0,
    panicked: 0,
    interrupted: 0,
  };
  for (const s of specs) t[s.status]++;
  return t;
}

/** A spec's name without ginkgo's node-type prefix (`[It] `), for messages. */
export function specTitle(s: SpecResult): string {
  return s.name.replace(/^\[It\]\s*/, '');
}
