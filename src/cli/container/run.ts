import type { Task } from '../../client/index.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { Attachment } from './attach.js';
import { createContainer } from './create.js';
import { deleteTask, loggerIO, removeContainer, startError } from './lifecycle.js';
import type { CreateOptions } from './options.js';
import { fifoDirOf } from './state-dir.js';

export interface RunMode {
  /** `-d`: start it and print its ID. */
  detach: boolean;
  /** `--rm`: remove it when it exits (by berthd when detached). */
  rm: boolean;
}

/**
 * `docker run`: the container (create.ts), then its task. Detached, the
 * task's output goes to berth-logger and the full ID is printed; in the
 * foreground the container's stdio is this terminal's (and the log's), and
 * berth exits with the container's exit code, after removing it with
 * `--rm`. A task that cannot start exits 127/126/125 (lifecycle.ts); with
 * `--rm` nothing is left behind then either.
 */
export async function runContainer(
  ctx: CliContext,
  opts: CreateOptions,
  mode: RunMode,
): Promise<number> {
  if (!mode.detach && opts.tty && opts.interactive && ctx.io.stdin.isTTY !== true) {
    // Checked before anything is made, as docker does.
    throw new CliError('the input device is not a TTY');
  }
  const client = await ctx.client();
  const created = await createContainer(ctx, client, opts, { autoRemove: mode.detach && mode.rm });
  const { container, name } = created;
  let taskDeleted = false;
  const discard = async () => {
    if (!mode.rm) return;
    // What rm reads of the record (its network and state dir) is what create gave it.
    const record = { id: created.id, labels: created.labels };
    await removeContainer(ctx, client, record, true, taskDeleted).catch((err) =>
      ctx.warn(`removing container ${name}: ${(err as Error).message}`),
    );
  };
  if (mode.detach) {
    let task: Task;
    try {
      task = await container.newTask(loggerIO(created.logURI, opts.tty));
    } catch (err) {
      await discard();
      throw startError(err, name);
    }
    try {
      await task.start();
    } catch (err) {
      await deleteTask(task).catch(() => undefined);
      await discard();
      throw startError(err, name);
    }
    ctx.out(`${created.id}\n`);
    return 0;
  }
  let attach: Attachment;
  try {
    attach = await Attachment.open(ctx, created.log, {
      tty: opts.tty,
      stdin: opts.interactive,
      fifoDir: fifoDirOf(created.stateDir),
    });
  } catch (err) {
    await discard();
    throw err;
  }
  let task: Task;
  let exitCode: number;
  try {
    ({ task, exitCode } = await attach.runTask(container, name));
  } catch (err) {
    await discard();
    throw err;
  }
  if (mode.rm) {
    // It has exited: delete it at once (deleteTask would ask its status first).
    await task.delete().then(
      () => (taskDeleted = true),
      () => deleteTask(task),
    );
  } else {
    // The task stays (stopped, its exit code shown by `ps -a`) until `rm` or `start`; its FIFOs go now.
    await task.io?.close();
  }
  await attach.close();
  await discard();
  return exitCode;
}
