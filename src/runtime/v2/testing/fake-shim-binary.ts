import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { FakeShimScript } from './fake-shim.js';

/** Where the fake shims of one test keep their files, all under `dir`. */
export function fakeShimPaths(dir: string) {
  return {
    bin: join(dir, 'bin'),
    /** `{ [containerId]: FakeShimScript }`, read at every call. */
    script: join(dir, 'script.json'),
    /** One line per shim command run: `start|delete <ns> <id>`. */
    calls: join(dir, 'calls'),
    /** One file per server process started, named by its pid, holding `<ns>/<id>`. */
    pids: join(dir, 'pids'),
    socket: (ns: string, id: string) => join(dir, 's', `${ns}-${id}.sock`),
    /** Where grouped fake shims listen (ShimManagerOptions.groupSocketDir). */
    groupDir: join(dir, 's'),
  };
}

const MAIN = fileURLToPath(new URL('./fake-shim-main.ts', import.meta.url));

/**
 * A fake shim binary a ShimManager can run without root: a launcher script
 * that runs {@link MAIN} under node (with tsx), which serves a
 * {@link FakeShim} on a unix socket under `dir`. Point the manager at it
 * with `shim_paths` (`paths: { [runtime]: binary.path }`). Every server it
 * starts is recorded by pid; {@link cleanup} kills those still alive.
 */
export class FakeShimBinary {
  readonly path: string;
  private readonly paths: ReturnType<typeof fakeShimPaths>;
  private readonly scripts: Record<string, FakeShimScript> = {};

  constructor(readonly dir: string) {
    this.paths = fakeShimPaths(dir);
    for (const d of [this.paths.bin, this.paths.pids, join(dir, 's')]) {
      mkdirSync(d, { recursive: true });
    }
    const tsx = createRequire(import.meta.url).resolve('tsx');
    this.path = join(this.paths.bin, 'containerd-shim-fake-v2');
    writeFileSync(
      this.path,
      `#!/bin/sh\nexec ${[process.execPath, '--import', tsx, MAIN, dir].map(shellQuote).join(' ')} "$@"\n`,
    );
    chmodSync(this.path, 0o755);
  }

  /** What the shim of container `id` does from now on. */
  script(id: string, s: FakeShimScript): void {
    this.scripts[id] = s;
    writeFileSync(this.paths.script, JSON.stringify(this.scripts));
  }

  /** The shim commands run so far, as `start|delete <ns> <id>`. */
  calls(): string[] {
    if (!existsSync(this.paths.calls)) return [];
    return readFileSync(this.paths.calls, 'utf8').split('\n').filter(Boolean);
  }

  socket(ns: string, id: string): string {
    return this.paths.socket(ns, id);
  }

  /** Pids of the live servers started for `ns/id`. */
  livePids(ns: string, id: string): number[] {
    return this.servers()
      .filter((s) => s.task === `${ns}/${id}` && isLiveServer(s.pid))
      .map((s) => s.pid);
  }

  /**
   * Kills the live server of `ns/id` as a crash would (SIGKILL) and waits
   * until it is gone: no thread left and nobody listening on its socket
   * (its main thread turns zombie before the others have closed its files).
   */
  async kill(ns: string, id: string): Promise<void> {
    const pids = this.livePids(ns, id);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const socket = this.socket(ns, id);
    for (let waited = 0; waited < 10_000; waited += 20) {
      if (this.livePids(ns, id).length === 0 && !listening(socket)) return;
      await sleep(20);
    }
    throw new Error(`the fake shim of ${ns}/${id} (${pids.join(', ')}) did not go`);
  }

  /** Kills every server still alive, by pid. */
  cleanup(): void {
    for (const { pid } of this.servers()) {
      if (isLiveServer(pid)) process.kill(pid, 'SIGKILL');
    }
  }

  private servers(): { pid: number; task: string }[] {
    return readdirSync(this.paths.pids).map((name) => ({
      pid: Number(name),
      task: readFileSync(join(this.paths.pids, name), 'utf8'),
    }));
  }
}

/**
 * Not yet gone: running, or exiting (a dying process loses its command
 * line before it closes its files, its socket among them). A zombie is
 * gone; so is a pid another program now has.
 */
function isLiveServer(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline === '' || cmdline.includes(MAIN);
  } catch {
    return false;
  }
}

/** Whether a socket is bound to `path` (a listener still open), per /proc/net/unix. */
function listening(path: string): boolean {
  return readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .some((line) => line.endsWith(` ${path}`));
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
