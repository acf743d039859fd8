import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { isAbsolute, posix, resolve } from 'node:path';
import type { Mount } from '../../client/oci/types.js';
import { bool, int, list, str } from '../args.js';
import type { FlagSpec, FlagValues } from '../command.js';
import { CliError } from '../errors.js';
import { validateName } from './names.js';
import { parseRestartPolicy, type RestartPolicy } from './restart-policy.js';

/** The flags `run` and `create` share (docker's names; `-h` stays help, `--hostname` has no short form). */
export const CREATE_FLAGS: readonly FlagSpec[] = [
  { name: 'name', type: 'string', help: 'assign a name to the container' },
  { name: 'interactive', short: 'i', type: 'bool', help: 'keep STDIN open' },
  { name: 'tty', short: 't', type: 'bool', help: 'allocate a pseudo-TTY' },
  {
    name: 'env',
    short: 'e',
    type: 'list',
    help: 'set environment variables (KEY=VALUE, or KEY from here)',
  },
  { name: 'env-file', type: 'list', help: 'read in a file of environment variables' },
  { name: 'volume', short: 'v', type: 'list', help: 'bind mount a host path: HOST:CONTAINER[:ro]' },
  { name: 'workdir', short: 'w', type: 'string', help: 'working directory inside the container' },
  {
    name: 'user',
    short: 'u',
    type: 'string',
    help: 'username or UID (format: <name|uid>[:<group|gid>])',
  },
  { name: 'entrypoint', type: 'string', help: "overwrite the image's ENTRYPOINT" },
  { name: 'hostname', type: 'string', help: 'container host name' },
  {
    name: 'publish',
    short: 'p',
    type: 'list',
    help: 'publish a port: [IP:]HOST:CONTAINER[/tcp|udp]',
  },
  {
    name: 'publish-all',
    short: 'P',
    type: 'bool',
    help: 'publish all exposed ports to random ports',
  },
  {
    name: 'network',
    type: 'string',
    help: 'network: bridge, host, none or a CNI network',
    default: 'bridge',
  },
  { name: 'net', type: 'string', help: 'alias of --network' },
  {
    name: 'restart',
    type: 'string',
    help: 'restart policy: no, always, on-failure[:N], unless-stopped',
    default: 'no',
  },
  { name: 'cpus', type: 'string', value: 'decimal', help: 'number of CPUs' },
  { name: 'memory', short: 'm', type: 'string', value: 'bytes', help: 'memory limit' },
  { name: 'label', short: 'l', type: 'list', help: 'set metadata on the container' },
  {
    name: 'pull',
    type: 'string',
    help: 'pull image before running: always, missing, never',
    default: 'missing',
  },
  { name: 'log-opt', type: 'list', help: 'log driver options: max-size=10m, max-file=3' },
  { name: 'platform', type: 'string', help: 'platform of the image (linux/arm64)' },
  { name: 'read-only', type: 'bool', help: "mount the container's root filesystem read-only" },
  { name: 'privileged', type: 'bool', help: 'give extended privileges to this container' },
  {
    name: 'stop-signal',
    type: 'string',
    help: "signal to stop the container (default the image's, else SIGTERM)",
  },
  { name: 'stop-timeout', type: 'int', help: 'timeout (in seconds) to stop a container' },
];

export type PullPolicy = 'always' | 'missing' | 'never';

/** What `run`/`create` were asked, checked: everything that can be wrong with the flags fails here, before any work. */
export interface CreateOptions {
  image: string;
  /** The arguments after the image (docker's CMD override). */
  command: string[];
  name?: string;
  interactive: boolean;
  tty: boolean;
  /** `K=v` and `K` (removed) entries, env files first, then `-e`, as docker merges them. */
  env: string[];
  mounts: Mount[];
  workdir?: string;
  user?: string;
  /** `--entrypoint`: undefined when not given; '' clears the image's. */
  entrypoint?: string;
  hostname?: string;
  publish: string[];
  publishAll: boolean;
  network: string;
  restart: RestartPolicy;
  /** CFS quota and period (µs) for `--cpus`. */
  cpu?: { quota: number; period: number };
  /** Bytes. */
  memory?: number;
  labels: Record<string, string>;
  pull: PullPolicy;
  logOpts: string[];
  platform?: string;
  readOnly: boolean;
  privileged: boolean;
  stopSignal?: string;
  stopTimeout?: number;
}

/** The CFS period docker uses for `--cpus`: 100 ms. */
export const CFS_PERIOD = 100_000;

/** Reads and checks the create flags; `args` is IMAGE then the command. `env` is this process's (for `-e K`). */
export function createOptions(
  flags: FlagValues,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string = process.cwd(),
): CreateOptions {
  const [image = '', ...command] = args;
  if (image === '')
    throw new CliError('no image given: berth run [OPTIONS] IMAGE [COMMAND] [ARG...]');
  const name = str(flags, 'name');
  const network = str(flags, 'net') ?? str(flags, 'network') ?? 'bridge';
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(network)) {
    throw new CliError(`invalid network name ${JSON.stringify(network)}`);
  }
  const pull = str(flags, 'pull') ?? 'missing';
  if (pull !== 'always' && pull !== 'missing' && pull !== 'never') {
    throw new CliError(
      `invalid pull option: '${pull}': must be one of "always", "missing" or "never"`,
    );
  }
  const restart = parseRestartPolicy(str(flags, 'restart') ?? 'no');
  const opts: CreateOptions = {
    image,
    command,
    interactive: bool(flags, 'interactive'),
    tty: bool(flags, 'tty'),
    env: [
      ...list(flags, 'env-file').flatMap((f) => parseEnvFile(f, env)),
      ...list(flags, 'env').map((e) => envEntry(e, env)),
    ].filter((e): e is string => e !== undefined),
    mounts: list(flags, 'volume').map((v) => parseVolume(v, cwd)),
    publish: list(flags, 'publish'),
    publishAll: bool(flags, 'publish-all'),
    network,
    restart,
    labels: parseLabels(list(flags, 'label')),
    pull,
    logOpts: list(flags, 'log-opt'),
    readOnly: bool(flags, 'read-only'),
    privileged: bool(flags, 'privileged'),
  };
  if (name !== undefined) opts.name = validateName(name);
  const workdir = str(flags, 'workdir');
  if (workdir !== undefined) {
    if (!workdir.startsWith('/')) {
      throw new CliError(
        `the working directory '${workdir}' is invalid, it needs to be an absolute path`,
      );
    }
    opts.workdir = workdir;
  }
  const user = str(flags, 'user');
  if (user !== undefined && user !== '') opts.user = user;
  const entrypoint = str(flags, 'entrypoint');
  if (entrypoint !== undefined) opts.entrypoint = entrypoint;
  const hostname = str(flags, 'hostname');
  if (hostname !== undefined && hostname !== '') {
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(hostname)) {
      throw new CliError(`invalid hostname format: ${hostname}`);
    }
    opts.hostname = hostname;
  }
  if (network === 'host' && (opts.publish.length > 0 || opts.publishAll)) {
    // docker ignores -p on the host network with a warning; berth refuses it, as nerdctl does.
    throw new CliError('conflicting options: port publishing and the host network mode');
  }
  const cpus = str(flags, 'cpus');
  if (cpus !== undefined) opts.cpu = { quota: parseCpus(cpus), period: CFS_PERIOD };
  const memory = str(flags, 'memory');
  if (memory !== undefined) opts.memory = parseMemory(memory);
  const platform = str(flags, 'platform');
  if (platform !== undefined && platform !== '') opts.platform = platform;
  const stopSignal = str(flags, 'stop-signal');
  if (stopSignal !== undefined && stopSignal !== '') opts.stopSignal = checkSignal(stopSignal);
  const stopTimeout = int(flags, 'stop-timeout');
  if (stopTimeout !== undefined) opts.stopTimeout = stopTimeout;
  return opts;
}

/** `-e K=v` as is; `-e K` takes K's value from here, or removes K when it is not set (docker's ValidateEnv). */
function envEntry(e: string, env: NodeJS.ProcessEnv): string | undefined {
  if (e === '' || e.startsWith('=')) throw new CliError(`invalid environment variable: ${e}`);
  if (e.includes('=')) return e;
  const v = env[e];
  return v === undefined ? undefined : `${e}=${v}`;
}

/** docker's env file: one `K=v` or `K` per line; blank lines and `#` comments skipped. */
export function parseEnvFile(path: string, env: NodeJS.ProcessEnv): (string | undefined)[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(
      `open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  const out: (string | undefined)[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (/\s/.test(key)) throw new CliError(`variable '${key}' contains whitespaces (in ${path})`);
    out.push(eq < 0 ? (env[key] === undefined ? undefined : `${key}=${env[key]}`) : line);
  }
  return out;
}

/** `--label k=v` (or `k`, an empty value). */
export function parseLabels(labels: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const eq = l.indexOf('=');
    const key = eq < 0 ? l : l.slice(0, eq);
    if (key === '') throw new CliError(`invalid label '${l}': empty name`);
    out[key] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return out;
}

const VOLUME_OPTIONS = new Set([
  'ro',
  'rw',
  'private',
  'rprivate',
  'shared',
  'rshared',
  'slave',
  'rslave',
]);

/**
 * `-v HOST:CONTAINER[:OPTS]`, a bind mount: HOST absolute or relative to
 * `cwd` (`./data`), made absolute; CONTAINER absolute; OPTS `ro`/`rw` and
 * mount propagation, comma-separated. Named and anonymous volumes are not
 * berth's: refused.
 */
export function parseVolume(spec: string, cwd: string): Mount {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) {
    if (parts.length === 1 && spec.startsWith('/')) {
      throw new CliError(
        `invalid volume ${JSON.stringify(spec)}: anonymous volumes are not supported, give HOST:CONTAINER`,
      );
    }
    throw new CliError(`invalid volume specification: '${spec}': want HOST:CONTAINER[:ro]`);
  }
  const [host = '', dest = '', modes = ''] = parts;
  if (host === '' || dest === '') throw new CliError(`invalid volume specification: '${spec}'`);
  if (!host.startsWith('/') && !host.startsWith('.')) {
    throw new CliError(
      `invalid volume ${JSON.stringify(spec)}: named volumes are not supported, give an absolute or ./relative host path`,
    );
  }
  if (!isAbsolute(dest)) {
    throw new CliError(
      `invalid volume ${JSON.stringify(spec)}: the container path must be absolute`,
    );
  }
  const options = ['rbind'];
  let ro = false;
  let propagation = 'rprivate';
  for (const m of modes === '' ? [] : modes.split(',')) {
    if (!VOLUME_OPTIONS.has(m))
      throw new CliError(
        `invalid volume ${JSON.stringify(spec)}: unknown mode ${JSON.stringify(m)}`,
      );
    if (m === 'ro') ro = true;
    else if (m === 'rw') ro = false;
    else propagation = m;
  }
  options.push(propagation, ro ? 'ro' : 'rw');
  return { destination: posix.normalize(dest), type: 'bind', source: resolve(cwd, host), options };
}

/** `--cpus 1.5` → the CFS quota (µs per {@link CFS_PERIOD}), as docker turns NanoCPUs into a quota. */
export function parseCpus(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n))
    throw new CliError(`invalid argument "${v}" for "--cpus" flag: not a number`);
  if (n <= 0) throw new CliError(`invalid argument "${v}" for "--cpus" flag: must be more than 0`);
  const quota = Math.round(n * CFS_PERIOD);
  if (quota < 1000) throw new CliError(`invalid argument "${v}" for "--cpus" flag: at least 0.01`);
  return quota;
}

const UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** The least `--memory` docker accepts: 6 MiB. */
export const MIN_MEMORY = 6 * 1024 * 1024;

/** `--memory 512m` as docker's RAMInBytes reads it (binary units; `b` and `i` optional). */
export function parseMemory(v: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?$/i.exec(v.trim());
  if (m === null)
    throw new CliError(`invalid argument "${v}" for "-m, --memory" flag: invalid size: '${v}'`);
  const n = Math.floor(Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1));
  if (n < MIN_MEMORY) throw new CliError('Minimum memory limit allowed is 6MB');
  return n;
}

/** A signal name (`SIGTERM`, `TERM`) or number, checked, in the spelling kept on the record. */
export function checkSignal(v: string): string {
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n < 1 || n > 64) throw new CliError(`invalid signal: ${v}`);
    return v;
  }
  const name = v.toUpperCase().startsWith('SIG') ? v.toUpperCase() : `SIG${v.toUpperCase()}`;
  if (!/^SIG(RTMIN|RTMAX)?$|^SIG[A-Z0-9]+$/.test(name) || !(name in SIGNALS)) {
    throw new CliError(`invalid signal: ${v}`);
  }
  return name;
}

const SIGNALS = constants.signals as Record<string, number>;
