/**
 * containerd's restart labels (runtime/restart in containerd 1.6/1.7,
 * core/runtime/restart in 2.x) on container records: berthd's restart
 * monitor (src/restart) honours them, berth's command line sets them.
 */
export const RestartLabels = {
  /** The desired status: `running` keeps the task running; `stopped` leaves it stopped. */
  status: 'containerd.io/restart.status',
  /** `always`, `unless-stopped`, `on-failure[:N]` or `no`; missing or empty means `always`. */
  policy: 'containerd.io/restart.policy',
  /** `true` once the user stopped the container (read by `unless-stopped`). */
  explicitlyStopped: 'containerd.io/restart.explicitly-stopped',
  /** How many times the monitor restarted the task (read by `on-failure:N`). */
  count: 'containerd.io/restart.count',
  /** The log URI a restarted task gets as stdout and stderr (`binary://…`, `file://…`). */
  logURI: 'containerd.io/restart.loguri',
  /** containerd 1.6/1.7's older label: a log file path, used as `file://<path>` when there is no log URI. */
  logPath: 'containerd.io/restart.logpath',
} as const;

/**
 * berth's own label (`Labels.autoRemove` of the command line): `true`
 * makes berthd remove the container (task, record, snapshot) once its
 * task exits and no restart policy wants it running (`run -d --rm`).
 */
export const AUTO_REMOVE_LABEL = 'berth/auto-remove';
