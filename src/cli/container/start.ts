import { type Client, Container } from '../../client/index.js';
import type { Container as ContainerRecord } from '../../core/containers/index.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { Labels } from '../labels.js';
import type { LogConfig } from '../logs/index.js';
import { containerName } from '../lookup.js';
import { Attachment } from './attach.js';
import { prepareStart } from './lifecycle.js';
import { fifoDirOf } from './state-dir.js';

/**
 * `docker start -a [-i]`: a new task whose stdio is this terminal's (and
 * the container's log); exits with the container's exit code.
 */
export async function startAttached(
  ctx: CliContext,
  client: Client,
  record: ContainerRecord,
  stdin: boolean,
): Promise<number> {
  const name = containerName(record);
  const container = new Container(client, record.id);
  if (!(await prepareStart(container, record))) {
    throw new CliError(`container ${name} is already running: berth cannot attach to it`);
  }
  const raw = record.labels[Labels.log];
  if (raw === undefined)
    throw new CliError(
      `cannot attach to container ${name}: it has no log config (label ${Labels.log})`,
    );
  const log = JSON.parse(raw) as LogConfig;
  const spec = (await container.spec()) as { process?: { terminal?: boolean } };
  const tty = spec.process?.terminal === true;
  const attach = await Attachment.open(ctx, log, {
    tty,
    stdin,
    fifoDir: fifoDirOf(record.labels[Labels.stateDir]),
  });
  const { task, exitCode } = await attach.runTask(container, name);
  await task.io?.close();
  await attach.close();
  return exitCode;
}
