import { invalidArgument } from '../core/errdefs/index.js';
import { compareVersions, isSupportedVersion } from './version.js';

/** A CNI result as plugins print it (spec 0.3.0 and later; older ones are converted). */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string; [k: string]: unknown }[];
  ips?: CniIpConfig[];
  routes?: { dst: string; gw?: string; [k: string]: unknown }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
  [k: string]: unknown;
}

export interface CniIpConfig {
  /** "4" or "6"; present up to 0.4.0, gone in 1.0.0. */
  version?: string;
  /** CIDR notation: "10.88.0.5/16". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
  [k: string]: unknown;
}

interface LegacyIp {
  ip: string;
  gateway?: string;
  routes?: { dst: string; gw?: string }[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function family(address: string): '4' | '6' {
  return address.includes(':') ? '6' : '4';
}

/**
 * Parses a plugin's result (stdout or a cached result) of any supported
 * version, a missing `cniVersion` taken as `confVersion` (as libcni does),
 * into the 1.0.0 shape. Throws invalid_argument naming `what` if it is not one.
 */
export function parseResult(raw: unknown, confVersion: string, what: string): CniResult {
  if (!isObject(raw)) throw invalidArgument(`${what}: result is not a JSON object`);
  const version =
    typeof raw.cniVersion === 'string' && raw.cniVersion ? raw.cniVersion : confVersion;
  if (!isSupportedVersion(version)) {
    throw invalidArgument(`${what}: unsupported result cniVersion ${JSON.stringify(version)}`);
  }
  if (compareVersions(version, '0.3.0') < 0) return fromLegacy(raw, what);
  const out: CniResult = { ...raw, cniVersion: '1.0.0' };
  if (raw.ips !== undefined) {
    if (!Array.isArray(raw.ips)) throw invalidArgument(`${what}: "ips" is not a list`);
    out.ips = raw.ips.map((ip, i) => {
      if (!isObject(ip) || typeof ip.address !== 'string') {
        throw invalidArgument(`${what}: ips[${i}] has no "address"`);
      }
      const { version: _v, ...rest } = ip;
      const cfg = { ...rest, address: ip.address } as CniIpConfig;
      if (cfg.interface !== undefined && typeof cfg.interface !== 'number') {
        throw invalidArgument(`${what}: ips[${i}].interface is not a number`);
      }
      return cfg;
    });
  }
  if (raw.interfaces !== undefined && !Array.isArray(raw.interfaces)) {
    throw invalidArgument(`${what}: "interfaces" is not a list`);
  }
  return out;
}

function fromLegacy(raw: Record<string, unknown>, what: string): CniResult {
  const out: CniResult = { cniVersion: '1.0.0', ips: [], routes: [] };
  for (const key of ['ip4', 'ip6'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (!isObject(v) || typeof v.ip !== 'string')
      throw invalidArgument(`${what}: "${key}" has no "ip"`);
    const ip = v as unknown as LegacyIp;
    out.ips?.push({ address: ip.ip, ...(ip.gateway ? { gateway: ip.gateway } : {}) });
    for (const r of ip.routes ?? []) out.routes?.push(r);
  }
  if (isObject(raw.dns)) out.dns = raw.dns as CniResult['dns'];
  return out;
}

/** The result (as {@link parseResult} gives it) in the shape of spec `version`, as a plugin expects its prevResult. */
export function resultAs(result: CniResult, version: string): Record<string, unknown> {
  if (compareVersions(version, '0.3.0') < 0) {
    const out: Record<string, unknown> = { cniVersion: version };
    for (const ip of result.ips ?? []) {
      const key = family(ip.address) === '4' ? 'ip4' : 'ip6';
      if (out[key]) continue;
      const cidrFamily = family(ip.address);
      const routes = (result.routes ?? []).filter((r) => family(r.dst) === cidrFamily);
      out[key] = {
        ip: ip.address,
        ...(ip.gateway ? { gateway: ip.gateway } : {}),
        ...(routes.length ? { routes } : {}),
      };
    }
    if (result.dns) out.dns = result.dns;
    return out;
  }
  const withVersion = compareVersions(version, '1.0.0') < 0;
  return {
    ...result,
    cniVersion: version,
    ...(result.ips
      ? {
          ips: result.ips.map((ip) => (withVersion ? { version: family(ip.address), ...ip } : ip)),
        }
      : {}),
  };
}

/** A pod address as containerd reports it: without the prefix length. */
export interface PodIp {
  address: string;
  gateway?: string;
  interface?: string;
}

/**
 * The addresses `result` gives interface `ifName`, IPv4 first (containerd's
 * default order). An address that names no interface belongs to the
 * network's own interface, as go-cni attributes it.
 */
export function podIps(result: CniResult, ifName: string): PodIp[] {
  const ips: PodIp[] = [];
  for (const ip of result.ips ?? []) {
    const intf = ip.interface === undefined ? undefined : result.interfaces?.[ip.interface];
    const name = intf?.name ?? ifName;
    if (name !== ifName) continue;
    ips.push({
      address: ip.address.split('/')[0] ?? ip.address,
      ...(ip.gateway ? { gateway: ip.gateway } : {}),
      interface: name,
    });
  }
  return [
    ...ips.filter((ip) => family(ip.address) === '4'),
    ...ips.filter((ip) => family(ip.address) === '6'),
  ];
}
