import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';

/** The files a container's /etc/hosts, /etc/resolv.conf and /etc/hostname are bind-mounted from. */
export interface ContainerFiles {
  hosts: string;
  resolvConf: string;
  hostname: string;
}

/** Where they are in the container's state dir. */
export function containerFilePaths(stateDir: string): ContainerFiles {
  return {
    hosts: join(stateDir, 'hosts'),
    resolvConf: join(stateDir, 'resolv.conf'),
    hostname: join(stateDir, 'hostname'),
  };
}

/**
 * /etc/hosts as docker writes it: localhost for both families, docker's
 * IPv6 names, then `<ip> <hostname> [<name>]` for each of the container's
 * addresses (none on `--network none`, or before the network is set up).
 */
export function hostsContent(opts: {
  ips: readonly string[];
  hostname: string;
  name?: string;
}): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  const names = [opts.hostname];
  if (opts.name && opts.name !== opts.hostname) names.push(opts.name);
  for (const ip of opts.ips) lines.push(`${ip}\t${names.filter((n) => n !== '').join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** docker's nameservers when the host's are all local ones (a container cannot reach the host's 127.0.0.53). */
export const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

function isLocalNameserver(addr: string): boolean {
  const a = addr.split('%')[0] ?? addr;
  return a.startsWith('127.') || a === '::1' || a === '0:0:0:0:0:0:0:1';
}

/**
 * A container's /etc/resolv.conf from the host's, as docker filters it:
 * `nameserver` lines for 127.0.0.0/8 and ::1 dropped (they mean the host's
 * own loopback, not the container's); if none remain, docker's defaults.
 * Everything else (search, options, comments) is kept.
 */
export function resolvConfContent(hostResolvConf: string): string {
  const out: string[] = [];
  let servers = 0;
  for (const line of hostResolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) {
      if (isLocalNameserver(m[1] as string)) continue;
      servers++;
    }
    out.push(line);
  }
  while (out.length > 0 && out[out.length - 1]?.trim() === '') out.pop();
  if (servers === 0) {
    out.push('', '# berth: the host has only local nameservers; using defaults');
    for (const ns of DEFAULT_NAMESERVERS) out.push(`nameserver ${ns}`);
  }
  return `${out.join('\n').replace(/^\n+/, '')}\n`;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * Writes `content` over `path` in place (truncate and write, same inode): a
 * bind mount of the file into a running container keeps seeing it, which a
 * rename over it would break.
 */
export function writeInPlace(path: string, content: string): void {
  writeFileSync(path, content, { flag: 'w', mode: 0o644 });
}

/**
 * The container's three files at create time. On the host's network they
 * are the host's hosts and resolv.conf as they are (local nameservers work
 * there); otherwise hosts has the localhost lines only (the createRuntime
 * hook adds the container's address) and resolv.conf is the host's, filtered.
 */
export function writeContainerFiles(
  stateDir: string,
  opts: { hostNetwork: boolean; hostname: string; etc?: string },
): ContainerFiles {
  const etc = opts.etc ?? '/etc';
  const paths = containerFilePaths(stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const hostResolv = readOr(join(etc, 'resolv.conf'), '');
  if (opts.hostNetwork) {
    writeInPlace(paths.hosts, readOr(join(etc, 'hosts'), hostsContent({ ips: [], hostname: '' })));
    writeInPlace(paths.resolvConf, hostResolv);
  } else {
    writeInPlace(paths.hosts, hostsContent({ ips: [], hostname: opts.hostname }));
    writeInPlace(paths.resolvConf, resolvConfContent(hostResolv));
  }
  writeInPlace(paths.hostname, `${opts.hostname || osHostname()}\n`);
  return paths;
}
