import { CliError } from '../errors.js';
import { RestartLabels } from '../labels.js';

export type RestartPolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

export interface RestartPolicy {
  name: RestartPolicyName;
  /** `on-failure:N`'s N; 0: no limit. */
  maximumRetryCount: number;
}

/**
 * `--restart` as docker reads it: `no` (also empty), `always`,
 * `unless-stopped`, `on-failure` or `on-failure:N` (N ≥ 0). Errors are
 * docker's words.
 */
export function parseRestartPolicy(value: string): RestartPolicy {
  const [name = '', count, ...extra] = value.split(':');
  if (extra.length > 0) throw new CliError(`invalid restart policy format: ${value}`);
  switch (name) {
    case '':
    case 'no':
    case 'always':
    case 'unless-stopped':
      if (count !== undefined) {
        throw new CliError(
          `maximum retry count cannot be used with restart policy '${name || 'no'}'`,
        );
      }
      return { name: name === '' ? 'no' : name, maximumRetryCount: 0 };
    case 'on-failure': {
      if (count === undefined) return { name, maximumRetryCount: 0 };
      if (!/^-?\d+$/.test(count)) {
        throw new CliError(`invalid restart policy format: maximum retry count must be an integer`);
      }
      const n = Number(count);
      if (n < 0)
        throw new CliError('invalid restart policy format: maximum retry count cannot be negative');
      return { name, maximumRetryCount: n };
    }
    default:
      throw new CliError(`invalid restart policy '${value}'`);
  }
}

/** The policy as containerd's label spells it (`on-failure:3`). */
export function policyLabel(p: RestartPolicy): string {
  return p.name === 'on-failure' && p.maximumRetryCount > 0
    ? `on-failure:${p.maximumRetryCount}`
    : p.name;
}

/**
 * The restart labels of a new container: none for `no` (containerd's
 * monitor takes a `running` status without a policy as `always`), else the
 * desired status `running` and the policy.
 */
export function restartLabels(p: RestartPolicy): Record<string, string> {
  if (p.name === 'no') return {};
  return { [RestartLabels.status]: 'running', [RestartLabels.policy]: policyLabel(p) };
}

/** Whether the record asks berthd's monitor to keep it running (a policy other than `no`). */
export function hasRestartPolicy(labels: Readonly<Record<string, string>>): boolean {
  const p = labels[RestartLabels.policy];
  return p !== undefined && p !== '' && p !== 'no';
}
