/**
 * @module
 * Seccomp and AppArmor from the CRI security context, as containerd 1.6
 * chooses them: the `seccomp` SecurityProfile, else the deprecated
 * `seccomp_profile_path` string, else the plugin's `unset_seccomp_profile`;
 * `runtime/default`, `docker/default` and the RuntimeDefault type mean
 * containerd's default profile, `unconfined` and no profile at all mean none,
 * `localhost/<path>` the JSON profile in that file. Privileged processes get
 * no seccomp profile.
 *
 * AppArmor: this machine has none, so (as containerd where the kernel lacks
 * it) a profile other than unconfined is refused and none is set.
 */
import {
  type LinuxContainerSecurityContext,
  type LinuxSandboxSecurityContext,
  type SecurityProfile,
  SecurityProfile_ProfileType,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import { defaultSeccompProfile, type SeccompPlatform } from './seccomp-default.js';
import type { OciSeccomp, OciSpec, SpecHost } from './types.js';

const LOCALHOST_PREFIX = 'localhost/';

/** The profile a profile string names (containerd's generateSecurityProfile). */
export function securityProfileOf(path: string): SecurityProfile {
  switch (path) {
    case 'runtime/default':
    case 'docker/default':
    case '':
      return { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: '' };
    case 'unconfined':
      return { profileType: SecurityProfile_ProfileType.Unconfined, localhostRef: '' };
    default:
      if (!path.startsWith(LOCALHOST_PREFIX)) throw invalidArgument(`invalid profile "${path}"`);
      return {
        profileType: SecurityProfile_ProfileType.Localhost,
        localhostRef: path.slice(LOCALHOST_PREFIX.length),
      };
  }
}

/** The seccomp profile asked for, undefined when none is (containerd: no seccomp then). */
export function requestedSeccomp(
  sc: LinuxContainerSecurityContext | LinuxSandboxSecurityContext | undefined,
  unsetProfile = '',
): SecurityProfile | undefined {
  if (sc?.seccomp) return sc.seccomp;
  const path = sc?.seccompProfilePath ?? '';
  if (path !== '') return securityProfileOf(path);
  if (unsetProfile !== '') return securityProfileOf(unsetProfile);
  return undefined;
}

/**
 * The `linux.seccomp` of a process (undefined: none), built last because
 * the default profile depends on the bounding capabilities. A localhost
 * profile that cannot be read or parsed fails `invalid_argument` naming the
 * file, in containerd's words.
 */
export async function seccompFor(opts: {
  profile: SecurityProfile | undefined;
  privileged: boolean;
  seccompEnabled: boolean;
  spec: OciSpec;
  platform: SeccompPlatform;
  host: Pick<SpecHost, 'readFile'>;
}): Promise<OciSeccomp | undefined> {
  const { profile } = opts;
  if (opts.privileged) return undefined;
  if (!opts.seccompEnabled) {
    if (profile && profile.profileType !== SecurityProfile_ProfileType.Unconfined) {
      throw invalidArgument('failed to generate seccomp spec opts: seccomp is not supported');
    }
    return undefined;
  }
  if (!profile) return undefined;
  if (
    profile.profileType !== SecurityProfile_ProfileType.Localhost &&
    profile.localhostRef !== ''
  ) {
    throw invalidArgument(
      'failed to generate seccomp spec opts: seccomp config invalid LocalhostRef must only be set if ProfileType is Localhost',
    );
  }
  switch (profile.profileType) {
    case SecurityProfile_ProfileType.Unconfined:
      return undefined;
    case SecurityProfile_ProfileType.RuntimeDefault:
      return defaultSeccompProfile(opts.spec, opts.platform);
    case SecurityProfile_ProfileType.Localhost:
      return loadSeccompProfile(
        profile.localhostRef.startsWith(LOCALHOST_PREFIX)
          ? profile.localhostRef.slice(LOCALHOST_PREFIX.length)
          : profile.localhostRef,
        opts.host,
      );
    default:
      throw invalidArgument('failed to generate seccomp spec opts: seccomp unknown ProfileType');
  }
}

/** A JSON seccomp profile from a file (containerd's seccomp.WithProfile). */
export async function loadSeccompProfile(
  path: string,
  host: Pick<SpecHost, 'readFile'>,
): Promise<OciSeccomp> {
  let data: Buffer;
  try {
    data = await host.readFile(path);
  } catch (err) {
    throw invalidArgument(
      `cannot load seccomp profile "${path}": ${goFsError('open', path, err)}`,
      {
        cause: err,
      },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`decoding seccomp profile failed "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidArgument(`decoding seccomp profile failed "${path}": not a JSON object`);
  }
  const profile = parsed as Record<string, unknown>;
  if (profile.defaultAction !== undefined && typeof profile.defaultAction !== 'string') {
    throw invalidArgument(
      `decoding seccomp profile failed "${path}": defaultAction is not a string`,
    );
  }
  if (
    profile.syscalls !== undefined &&
    profile.syscalls !== null &&
    !Array.isArray(profile.syscalls)
  ) {
    throw invalidArgument(`decoding seccomp profile failed "${path}": syscalls is not a list`);
  }
  return parsed as OciSeccomp;
}

/**
 * AppArmor where the kernel has none (this machine): an explicit profile
 * other than unconfined is refused, as containerd refuses it.
 */
export function checkApparmorUnsupported(sc: LinuxContainerSecurityContext | undefined): void {
  const profile =
    sc?.apparmor ?? (sc?.apparmorProfile ? securityProfileOf(sc.apparmorProfile) : undefined);
  if (profile && profile.profileType !== SecurityProfile_ProfileType.Unconfined) {
    throw invalidArgument('failed to generate apparmor spec opts: apparmor is not supported');
  }
}

/** An fs error as Go prints it: `open /x: no such file or directory`. */
export function goFsError(op: string, path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const text = code ? ERRNO_TEXT[code] : undefined;
  return text ? `${op} ${path}: ${text}` : (err as Error).message;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
};
