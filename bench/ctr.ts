/**
 * Running `ctr` (and other commands) against a daemon, for the pull benches:
 * a child process with the CONTAINERD_* variables cleared, its output kept
 * (up to 1 MiB), killed after a timeout, rejecting with its last output.
 */
import { spawn } from 'node:child_process';

const MiB = 1 << 20;

/** A daemon a bench drives: which one, its socket and its pid. */
export interface Daemon {
  name: 'berthd' | 'containerd';
  socket: string;
  pid: number;
}

/** Runs `cmd`; resolves with its stdout and stderr, rejects on a non-zero exit. */
export function run(cmd: string, args: string[], timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.CONTAINERD_NAMESPACE;
    delete env.CONTAINERD_ADDRESS;
    delete env.CONTAINERD_SNAPSHOTTER;
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    const keep = (b: Buffer) => {
      if (out.length < MiB) out += b.toString();
    };
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')}: ${code ?? signal}\n${out.slice(-4000)}`));
    });
  });
}

/** Debian's `ctr` 1.6 against `d` in namespace `ns`. */
export function ctr(d: Daemon, ns: string, args: string[], timeoutMs?: number): Promise<string> {
  return run('ctr', ['--address', d.socket, '--namespace', ns, ...args], timeoutMs);
}

/** Rows of a ctr table, header dropped. */
export function rows(out: string): string[] {
  return out
    .trim()
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '');
}
