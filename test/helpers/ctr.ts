import { spawnSync } from 'node:child_process';

export interface CtrResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs Debian's real `ctr` against `socket`. */
export function ctr(socket: string, args: string[], opts: { namespace?: string } = {}): CtrResult {
  const ns = opts.namespace === undefined ? [] : ['--namespace', opts.namespace];
  const env = { ...process.env };
  delete env.CONTAINERD_NAMESPACE;
  delete env.CONTAINERD_ADDRESS;
  const r = spawnSync('ctr', ['--address', socket, ...ns, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like {@link ctr}, but throws with ctr's output unless it exits 0. */
export function ctrOk(socket: string, args: string[], opts: { namespace?: string } = {}): string {
  const r = ctr(socket, args, opts);
  if (r.code !== 0) {
    throw new Error(`ctr ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/** Splits ctr's tabwriter output into rows of whitespace-separated cells. */
export function table(out: string): string[][] {
  return out
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/));
}
