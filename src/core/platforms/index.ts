/**
 * @module platforms
 * OCI platforms as containerd's `platforms` package handles them: parse a
 * specifier (`linux`, `amd64`, `linux/arm64/v8`), normalize the spellings
 * (`x86_64` → `amd64`, `aarch64` → `arm64`, arm's default variant `v7`, arm64's
 * `v8` dropped), format back, and match manifests against what a host can run,
 * in containerd's order of preference: the exact platform first, then the
 * fallbacks its CPU also runs (amd64 v3 → v2 → v1 → 386; arm64 → arm v8 → v7 → …
 * → v5; arm v7 → v6 → v5).
 */
import { invalidArgument } from '../errdefs/index.js';

/** The OCI platform object (image index entries, image configs). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** Matches platforms; `less` orders the better match first (for picking one). */
export interface MatchComparer {
  match(p: Platform): boolean;
  /** True when `a` is preferred over `b`. */
  less(a: Platform, b: Platform): boolean;
}

const KNOWN_OS = new Set(
  'aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris windows zos'.split(
    ' ',
  ),
);
const KNOWN_ARCH = new Set(
  '386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm'.split(
    ' ',
  ),
);
const COMPONENT = /^[A-Za-z0-9_-]+$/;

/** Go's GOARCH for Node's `process.arch`. */
function goArch(arch: string = process.arch): string {
  switch (arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    case 'ppc64':
      // Node's ppc64 builds are little-endian.
      return 'ppc64le';
    case 'mipsel':
      return 'mipsle';
    default:
      return arch;
  }
}

/** The host's OS in Go's spelling (Node says `linux`, `darwin`, `win32`, …). */
function goOs(os: string = process.platform): string {
  return os === 'win32' ? 'windows' : os;
}

/** The host's platform (containerd's `DefaultSpec`): `linux/amd64` on x86-64 Linux. */
export function defaultSpec(): Platform {
  const architecture = goArch();
  const p: Platform = { os: goOs(), architecture };
  // Node runs on armv7 at the least; containerd reads /proc/cpuinfo for it.
  if (architecture === 'arm') p.variant = 'v7';
  return normalize(p);
}

/** `linux/amd64` style string of the host's platform. */
export function defaultString(): string {
  return format(defaultSpec());
}

function normalizeOs(os: string): string {
  if (os === '') return goOs();
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

function normalizeArch(arch: string, variant: string): [string, string] {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      a = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      a = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      a = 'arm64';
      if (v === '8' || v === 'v8') v = '';
      break;
    case 'armhf':
      a = 'arm';
      v = 'v7';
      break;
    case 'armel':
      a = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return [a, v];
}

/** containerd's Normalize: lower case, known aliases, default variants. */
export function normalize(p: Platform): Platform {
  const [architecture, variant] = normalizeArch(p.architecture ?? '', p.variant ?? '');
  const out: Platform = { ...p, os: normalizeOs(p.os ?? ''), architecture };
  if (variant === '') delete out.variant;
  else out.variant = variant;
  return out;
}

/**
 * Parses a specifier as containerd does: `os`, `arch`, `os/arch` or
 * `os/arch/variant`. One component is an OS if it is a known one (the
 * architecture is then the host's), else an architecture (the OS the host's).
 * Throws `invalid_argument` naming the specifier.
 */
export function parse(specifier: string): Platform {
  if (specifier.includes('*')) {
    throw invalidArgument(`${JSON.stringify(specifier)}: wildcards not yet supported`);
  }
  const parts = specifier.split('/');
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      throw invalidArgument(
        `${JSON.stringify(part)} is an invalid component of ${JSON.stringify(specifier)}: platform specifier component must match "^[A-Za-z0-9_-]+$"`,
      );
    }
  }
  const withVariant = (os: string, architecture: string, variant: string): Platform =>
    variant === '' ? { os, architecture } : { os, architecture, variant };
  if (parts.length === 1) {
    const os = normalizeOs(parts[0]!);
    if (KNOWN_OS.has(os)) {
      const host = defaultSpec();
      return withVariant(
        os,
        host.architecture,
        host.architecture === 'arm' ? (host.variant ?? '') : '',
      );
    }
    let [arch, variant] = normalizeArch(parts[0]!, '');
    if (arch === 'arm' && variant === 'v7') variant = '';
    if (KNOWN_ARCH.has(arch)) return withVariant(goOs(), arch, variant);
    throw invalidArgument(`${JSON.stringify(specifier)}: unknown operating system or architecture`);
  }
  if (parts.length === 2) {
    let [arch, variant] = normalizeArch(parts[1]!, '');
    if (arch === 'arm' && variant === 'v7') variant = '';
    return withVariant(normalizeOs(parts[0]!), arch, variant);
  }
  if (parts.length === 3) {
    let [arch, variant] = normalizeArch(parts[1]!, parts[2]!);
    if (arch === 'arm64' && variant === '') variant = 'v8';
    return withVariant(normalizeOs(parts[0]!), arch, variant);
  }
  throw invalidArgument(`${JSON.stringify(specifier)}: cannot parse platform specifier`);
}

/** `os/arch[/variant]`; `unknown` without an OS (containerd's Format). */
export function format(p: Platform): string {
  if (!p.os) return 'unknown';
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}

/** Exact match after normalization of both sides (OS, architecture, variant). */
export function newMatcher(p: Platform): (q: Platform) => boolean {
  const want = normalize(p);
  return (q) => {
    const n = normalize(q);
    return (
      n.os === want.os &&
      n.architecture === want.architecture &&
      (n.variant ?? '') === (want.variant ?? '')
    );
  };
}

/** The platforms a host of `p` runs, best first (containerd's platformVector). */
function platformVector(p: Platform): Platform[] {
  const vector: Platform[] = [p];
  const same = (architecture: string, variant?: string): Platform => {
    const q: Platform = { ...p, architecture };
    if (variant) q.variant = variant;
    else delete q.variant;
    return q;
  };
  const version = (v: string | undefined) => Number.parseInt((v ?? '').replace(/^v/, ''), 10);
  switch (p.architecture) {
    case 'amd64': {
      const n = version(p.variant);
      if (n > 1) for (let i = n - 1; i >= 1; i--) vector.push(same('amd64', `v${i}`));
      vector.push(same('386'));
      break;
    }
    case 'arm': {
      const n = version(p.variant);
      if (n > 5) for (let i = n - 1; i >= 5; i--) vector.push(same('arm', `v${i}`));
      break;
    }
    case 'arm64':
      vector.push(...platformVector(same('arm', p.variant || 'v8')));
      break;
  }
  return vector;
}

/** Matches any of `ps`; the first one matched wins (containerd's Ordered). */
export function ordered(...ps: Platform[]): MatchComparer {
  const matchers = ps.map(newMatcher);
  const rank = (q: Platform) => {
    const i = matchers.findIndex((m) => m(q));
    return i < 0 ? Number.POSITIVE_INFINITY : i;
  };
  return {
    match: (q) => matchers.some((m) => m(q)),
    less: (a, b) => rank(a) < rank(b),
  };
}

/** Matches any of `ps`, with no order among them (containerd's Any). */
export function any(...ps: Platform[]): MatchComparer {
  const matchers = ps.map(newMatcher);
  const hit = (q: Platform) => matchers.some((m) => m(q));
  return { match: hit, less: (a, b) => hit(a) && !hit(b) };
}

/** What a host of `p` runs: `p`, then its fallbacks (containerd's Only). */
export function only(p: Platform): MatchComparer {
  return ordered(...platformVector(normalize(p)));
}

/** Exactly `p`, no fallbacks (containerd's OnlyStrict). */
export function onlyStrict(p: Platform): MatchComparer {
  return ordered(normalize(p));
}

/** Every platform. */
export const all: MatchComparer = { match: () => true, less: () => false };

/** The host's matcher (containerd's Default): the host's platform and its fallbacks. */
export function defaultMatcher(): MatchComparer {
  return only(defaultSpec());
}

/**
 * The matcher for a list of specifiers as the image operations take them:
 * none → the host's; one → that platform and its fallbacks; several → any of
 * them (each with its fallbacks, in the order given).
 */
export function matcherFor(specifiers: readonly string[] | undefined): MatchComparer {
  if (!specifiers || specifiers.length === 0) return defaultMatcher();
  const ps = specifiers.map(parse);
  if (ps.length === 1) return only(ps[0]!);
  return ordered(...ps.flatMap((p) => platformVector(normalize(p))));
}
