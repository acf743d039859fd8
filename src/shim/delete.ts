import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DeleteResponse } from '../api/containerd/task/v2/shim.js';
import { unmountAll } from '../sys/mount.js';
import { toTimestamp } from './events.js';
import type { ShimFlags } from './flags.js';
import { createLogger } from './logger.js';
import { parseOptionsJson } from './options.js';
import { Runc } from './runc.js';

/**
 * `delete` (containerd's shim protocol) for a bundle whose shim is gone:
 * `runc delete --force` with the root the container was created with (the
 * bundle's options.json), unmount `<bundle>/rootfs`, print a marshalled
 * DeleteResponse (the init's pid, exit status 137 = SIGKILL, exited now).
 */
export async function deleteBundle(flags: ShimFlags): Promise<void> {
  const log = createLogger({ debug: flags.debug }).child({
    id: flags.id,
    namespace: flags.namespace,
  });
  const bundle = flags.bundle || join(dirname(process.cwd()), flags.id);
  const opts = parseOptionsJson(
    await readFile(join(bundle, 'options.json'), 'utf8').catch(() => ''),
  );
  const runc = new Runc({
    command: opts.binaryName,
    root: join(opts.root, flags.namespace),
    log: join(bundle, 'log.json'),
    systemdCgroup: opts.systemdCgroup,
  });
  try {
    await runc.delete(flags.id, true);
  } catch (err) {
    log.warn({ err }, 'failed to remove runc container');
  }
  try {
    unmountAll(join(bundle, 'rootfs'));
  } catch (err) {
    log.warn({ err }, 'failed to cleanup rootfs mount');
  }
  let pid = 0;
  try {
    pid = Number.parseInt((await readFile(join(bundle, 'init.pid'), 'utf8')).trim(), 10) || 0;
  } catch (err) {
    log.warn({ err }, 'failed to read init pid file');
  }
  const out = DeleteResponse.encode({
    pid,
    exitStatus: 128 + 9,
    exitedAt: toTimestamp(new Date()),
  }).finish();
  process.stdout.write(out);
}
