import { RestartLabels } from '../core/containers/index.js';
import { invalidArgument } from '../core/errdefs/index.js';
import type { Labels } from '../core/labels/index.js';

export type PolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

/** A parsed `containerd.io/restart.policy`. */
export interface Policy {
  name: PolicyName;
  /** `on-failure:N`'s N; 0 for no limit (containerd's and docker's meaning of 0). */
  maximumRetryCount: number;
}

/**
 * Parses a policy as containerd's restart.NewPolicy does: `no`, `always`,
 * `unless-stopped`, `on-failure` or `on-failure:N`; the empty string is
 * `always`. `invalid_argument` for anything else, and for a count on a
 * policy that takes none.
 */
export function parsePolicy(policy: string): Policy {
  const [name = '', ...rest] = policy.split(':');
  switch (name) {
    case '':
    case 'no':
    case 'always':
    case 'unless-stopped':
      if (rest.length > 0) {
        throw invalidArgument(`restart policy ${JSON.stringify(name)} does not take a retry count`);
      }
      return { name: name === '' ? 'always' : name, maximumRetryCount: 0 };
    case 'on-failure': {
      if (rest.length === 0) return { name, maximumRetryCount: 0 };
      const n = rest.join(':');
      if (!/^[+-]?\d+$/.test(n)) {
        throw invalidArgument(
          `restart policy ${JSON.stringify(policy)}: invalid max retry count ${JSON.stringify(n)}`,
        );
      }
      return { name, maximumRetryCount: Math.max(0, Number(n)) };
    }
    default:
      throw invalidArgument(`restart policy ${JSON.stringify(policy)} not supported`);
  }
}

/** How many restarts the record says the monitor made (the count label; 0 when absent). */
export function restartCount(labels: Labels): number {
  const raw = labels[RestartLabels.count];
  if (raw === undefined || raw === '') return 0;
  if (!/^\d+$/.test(raw)) {
    throw invalidArgument(
      `label ${RestartLabels.count}: invalid restart count ${JSON.stringify(raw)}`,
    );
  }
  return Number(raw);
}

/** The strings Go's strconv.ParseBool reads as true (containerd parses explicitly-stopped so). */
const GO_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);

/** A label value Go's strconv.ParseBool reads as true. */
export function isTrue(value: string | undefined): boolean {
  return GO_TRUE.has(value ?? '');
}

/** What the monitor decided for a container, and why (for the log). */
export interface Decision {
  restart: boolean;
  reason: string;
}

/**
 * Whether a container whose desired status is `running` and whose task is
 * stopped (or missing) is started again, as containerd's restart.Reconcile
 * decides: `always` (and a missing policy) yes; `unless-stopped` unless
 * explicitly-stopped is `true`; `on-failure[:N]` when the exit status is
 * non-zero and fewer than N restarts were made (N = 0: no limit); `no`
 * never. A policy or count that does not parse is never restarted.
 * `exitStatus` is undefined when there is no task to read it from; like
 * containerd (which reads a zero status then), `on-failure` does not
 * restart such a container.
 */
export function decide(labels: Labels, exitStatus: number | undefined): Decision {
  let policy: Policy;
  let count: number;
  try {
    policy = parsePolicy(labels[RestartLabels.policy] ?? '');
    count = restartCount(labels);
  } catch (err) {
    return { restart: false, reason: (err as Error).message };
  }
  switch (policy.name) {
    case 'always':
      return { restart: true, reason: 'policy always' };
    case 'unless-stopped':
      return GO_TRUE.has(labels[RestartLabels.explicitlyStopped] ?? '')
        ? { restart: false, reason: 'explicitly stopped' }
        : { restart: true, reason: 'policy unless-stopped' };
    case 'on-failure': {
      if (exitStatus === undefined || exitStatus === 0) {
        return { restart: false, reason: 'exited without failure' };
      }
      const max = policy.maximumRetryCount;
      if (max > 0 && count >= max) {
        return { restart: false, reason: `gave up after ${count} restarts (on-failure:${max})` };
      }
      return { restart: true, reason: 'exited with a failure' };
    }
    case 'no':
      return { restart: false, reason: 'policy no' };
  }
}
