/**
 * @module mount
 * A mount as containerd describes it: what a snapshotter returns and a
 * shim or the differ performs. A value type; performing it is src/sys's job.
 */
export interface Mount {
  /** `overlay`, `bind`, … */
  type: string;
  source: string;
  /** Unused by snapshotters; kept for the wire type. */
  target?: string;
  options: string[];
}
