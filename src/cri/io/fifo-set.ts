import { mkdir, readdir, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { ProcessIO } from '../../core/tasks/index.js';
import { mkfifo, openFifoReader } from './fifo.js';

/**
 * The FIFOs of one process in a directory of its own (containerd's
 * `cio.FIFOSet`): `stdin` when asked for, `stdout`, and `stderr` unless
 * the process has a TTY (its one stream comes on stdout). berthd holds the
 * reading side of the outputs from the start, opened so that the open never
 * waits for the shim; the writing side of stdin is opened when there is
 * input, once the shim reads it (see fifo.ts).
 */
export interface FifoSet {
  readonly dir: string;
  /** The paths the shim is given. */
  readonly io: ProcessIO;
  readonly stdout: Socket;
  readonly stderr?: Socket;
}

/**
 * Makes (or, for a recovered container, finds) the FIFOs in `dir` and opens
 * berthd's reading sides. On failure nothing opened is left open, and `dir` is
 * removed if this call made it.
 */
export async function openFifoSet(
  dir: string,
  want: { stdin: boolean; tty: boolean },
): Promise<FifoSet> {
  const made = (await mkdir(dir, { recursive: true, mode: 0o700 })) !== undefined;
  const io: ProcessIO = {
    stdin: want.stdin ? join(dir, 'stdin') : '',
    stdout: join(dir, 'stdout'),
    stderr: want.tty ? '' : join(dir, 'stderr'),
    terminal: want.tty,
  };
  const opened: Socket[] = [];
  const track = (s: Socket) => {
    opened.push(s);
    return s;
  };
  try {
    for (const p of [io.stdin, io.stdout, io.stderr]) if (p !== '') await mkfifo(p);
    const stdout = track(await openFifoReader(io.stdout));
    const stderr = io.stderr === '' ? undefined : track(await openFifoReader(io.stderr));
    return { dir, io, stdout, ...(stderr && { stderr }) };
  } catch (err) {
    for (const s of opened) s.destroy();
    if (made) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Closes berthd's reading sides of the set (the shim keeps its own). */
export function closeFifoSet(set: FifoSet): void {
  set.stdout.destroy();
  set.stderr?.destroy();
}

/** Removes the set's directory and FIFOs. */
export async function removeFifoDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The names of the exec FIFO directories left in a container's io dir. */
export async function staleExecDirs(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(EXEC_DIR_PREFIX)).map((n) => join(dir, n));
}

/** Exec FIFO directories are `<container io dir>/exec-<random>`. */
export const EXEC_DIR_PREFIX = 'exec-';
