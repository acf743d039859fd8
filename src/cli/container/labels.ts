/**
 * Labels `run`/`create` keep on the record besides those of ../labels.ts,
 * for `stop` and `restart`.
 */
export const StopLabels = {
  /** The signal `stop` sends first: containerd's label (its `WithImageStopSignal`), from the image or `--stop-signal`. */
  signal: 'io.containerd.image.config.stop-signal',
  /** `--stop-timeout`: seconds `stop` waits before SIGKILL. */
  timeout: 'berth/stop-timeout',
} as const;

/** docker's default grace period of `stop`, seconds. */
export const DEFAULT_STOP_TIMEOUT = 10;
