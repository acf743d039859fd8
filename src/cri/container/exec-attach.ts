/**
 * @module
 * ExecSync, Exec and Attach (URLs of the streaming server, and the runtime side it calls back:
 * execStream, attachStream), and ReopenContainerLog.
 */
import { randomBytes } from 'node:crypto';
import {
  type AttachRequest,
  type AttachResponse,
  ContainerState,
  type ExecRequest,
  type ExecResponse,
  type ExecSyncRequest,
  type ExecSyncResponse,
  type ReopenContainerLogRequest,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { failedPrecondition, invalidArgument } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Task } from '../../core/tasks/index.js';
import { runExec, execSync as runExecSync } from '../io/index.js';
import type { OciSpec } from '../opts/index.js';
import type { StreamOptions } from './deps.js';
import { withEnv, withMessage } from './helpers.js';
import type { ContainerService } from './service.js';
import { stateOf } from './status.js';

export async function execSync(
  svc: ContainerService,
  callCtx: OpContext,
  req: ExecSyncRequest,
): Promise<ExecSyncResponse> {
  const ctx = svc.k8s(callCtx);
  const timeoutMs = Number(req.timeout) * 1000;
  try {
    const x = await execSetup(svc, ctx, req.containerId, req.cmd, false);
    return await runExecSync(x.task, x.execId, x.process, {
      ctx,
      dir: x.dir,
      ...(timeoutMs > 0 && { timeoutMs }),
      log: ctx.log,
    });
  } catch (err) {
    throw withMessage(err, 'failed to exec in container');
  }
}

export function exec(svc: ContainerService, _ctx: OpContext, req: ExecRequest): ExecResponse {
  svc.running(req.containerId);
  return svc.streaming().getExec(req);
}

export function attach(svc: ContainerService, _ctx: OpContext, req: AttachRequest): AttachResponse {
  svc.running(req.containerId);
  return svc.streaming().getAttach(req);
}

/** The streaming server's exec: runs `cmd` in the container to its end; answers its exit code. */
export async function execStream(
  svc: ContainerService,
  containerId: string,
  cmd: string[],
  o: StreamOptions,
): Promise<number> {
  const ctx = svc.lifeCtx(svc.opts.log);
  const x = await execSetup(svc, ctx, containerId, cmd, o.tty);
  return runExec(x.task, x.execId, x.process, { ...o, ctx, dir: x.dir, log: ctx.log });
}

/** The streaming server's attach: connects to the container's stdio until the client leaves. */
export async function attachStream(
  svc: ContainerService,
  containerId: string,
  o: StreamOptions,
): Promise<void> {
  const ctx = svc.lifeCtx(svc.opts.log);
  const c = svc.running(containerId);
  const task = svc.opts.tasks.get(ctx, c.id);
  if (!c.io) throw failedPrecondition(`container ${JSON.stringify(c.id)} has no IO`);
  await c.io.attach({
    ...o,
    closeStdin: () => task.closeIO(ctx),
    resizePty: (s) => task.resizePty(ctx, s.width, s.height),
  });
}

/** An exec's process: the container's, with `cmd` (containerd's execInternal). */
async function execSetup(
  svc: ContainerService,
  ctx: OpContext,
  containerId: string,
  cmd: string[],
  tty: boolean,
): Promise<{ task: Task; process: Record<string, unknown>; execId: string; dir: string }> {
  if (cmd.length === 0) throw invalidArgument('exec command must not be empty');
  const c = svc.running(containerId);
  const record = await svc.opts.records.get(ctx, c.id);
  const task = svc.opts.tasks.get(ctx, c.id);
  if (!c.io) throw failedPrecondition(`container ${JSON.stringify(c.id)} has no IO`);
  const spec: Partial<OciSpec> = record.spec
    ? JSON.parse(Buffer.from(record.spec.value).toString('utf8'))
    : {};
  const process: Record<string, any> = { ...(spec.process ?? {}) };
  process.terminal = tty;
  process.args = cmd;
  delete process.commandLine;
  if (tty) process.env = withEnv(process.env ?? [], 'TERM=xterm');
  return { task, process, execId: randomBytes(32).toString('hex'), dir: c.io.dir };
}

export async function reopenContainerLog(
  svc: ContainerService,
  _ctx: OpContext,
  req: ReopenContainerLogRequest,
): Promise<object> {
  const c = svc.container(req.containerId);
  if (stateOf(c.status.get()) !== ContainerState.CONTAINER_RUNNING) {
    throw failedPrecondition('container is not running');
  }
  if (!c.io) throw failedPrecondition(`container ${JSON.stringify(c.id)} has no IO`);
  await c.io.reopenLog();
  return {};
}
