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
import type { OciSeccomp, OciSeccompArg, OciSpec, OciSyscall, SpecHost } from './types.js';

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
  try {
    return decodeSeccomp(parsed);
  } catch (err) {
    throw invalidArgument(`decoding seccomp profile failed "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * A parsed JSON profile as Go's encoding/json decodes it into runtime-spec's
 * LinuxSeccomp: known fields only (keys matched case-insensitively, null
 * as absent), each of its type, or an error naming the field. Integers past
 * 2^53 are refused: JavaScript numbers would hand runc a different value.
 */
export function decodeSeccomp(v: unknown): OciSeccomp {
  const o = object(v, 'profile');
  const out: OciSeccomp = { defaultAction: str(field(o, 'defaultAction'), 'defaultAction') ?? '' };
  const errnoRet = uint(field(o, 'defaultErrnoRet'), 'defaultErrnoRet');
  if (errnoRet !== undefined) out.defaultErrnoRet = errnoRet;
  const architectures = strings(field(o, 'architectures'), 'architectures');
  if (architectures?.length) out.architectures = architectures;
  const flags = strings(field(o, 'flags'), 'flags');
  if (flags?.length) out.flags = flags;
  const listenerPath = str(field(o, 'listenerPath'), 'listenerPath');
  if (listenerPath) out.listenerPath = listenerPath;
  const listenerMetadata = str(field(o, 'listenerMetadata'), 'listenerMetadata');
  if (listenerMetadata) out.listenerMetadata = listenerMetadata;
  const syscalls = list(field(o, 'syscalls'), 'syscalls');
  if (syscalls?.length) {
    out.syscalls = syscalls.map((raw, i) => {
      const at = `syscalls[${i}]`;
      const sc = object(raw, at);
      const rule: OciSyscall = {
        names: strings(field(sc, 'names'), `${at}.names`) ?? [],
        action: str(field(sc, 'action'), `${at}.action`) ?? '',
      };
      const ret = uint(field(sc, 'errnoRet'), `${at}.errnoRet`);
      if (ret !== undefined) rule.errnoRet = ret;
      const args = list(field(sc, 'args'), `${at}.args`);
      if (args?.length) {
        rule.args = args.map((a, j) => {
          const where = `${at}.args[${j}]`;
          const arg = object(a, where);
          const decoded: OciSeccompArg = {
            index: uint(field(arg, 'index'), `${where}.index`) ?? 0,
            value: uint(field(arg, 'value'), `${where}.value`) ?? 0,
            op: str(field(arg, 'op'), `${where}.op`) ?? '',
          };
          const two = uint(field(arg, 'valueTwo'), `${where}.valueTwo`);
          if (two) decoded.valueTwo = two;
          return decoded;
        });
      }
      return rule;
    });
  }
  return out;
}

function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  const key = Object.keys(o).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : o[key];
}

function object(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new Error(`${at}: not a JSON object`);
  }
  return v as Record<string, unknown>;
}

function list(v: unknown, at: string): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new Error(`${at}: not a list`);
  return v;
}

function str(v: unknown, at: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Error(`${at}: not a string`);
  return v;
}

function strings(v: unknown, at: string): string[] | undefined {
  const l = list(v, at);
  return l?.map((x, i) => str(x, `${at}[${i}]`) ?? '');
}

function uint(v: unknown, at: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new Error(`${at}: not an unsigned integer`);
  }
  if (!Number.isSafeInteger(v))
    throw new Error(`${at}: ${v} is past 2^53, which berth cannot keep exactly`);
  return v;
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
