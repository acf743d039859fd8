import type { Logger } from '../core/log/index.js';
import { joinCgroup } from '../sys/cgroup.js';
import { setOOMScoreAdj } from '../sys/oom.js';
import type { Config } from './config.js';

/**
 * Applies the settings of the daemon's own process, before anything else
 * starts (containerd's services/server apply): the OOM score, then the
 * cgroup. As in containerd, an OOM score that cannot be set is logged and
 * start-up goes on, while a cgroup that cannot be joined stops it.
 */
export function applyProcessConfig(config: Config, log: Logger): void {
  if (config.oomScore !== 0) {
    try {
      setOOMScoreAdj('self', config.oomScore);
      log.debug({ oomScore: config.oomScore }, 'oom score set');
    } catch (err) {
      log.error({ err, oomScore: config.oomScore }, 'failed to set the oom score');
    }
  }
  if (config.cgroup.path !== '') {
    const { dirs } = joinCgroup(config.cgroup.path, process.pid);
    log.debug({ cgroup: config.cgroup.path, dirs }, 'joined cgroup');
  }
}
