import { createSocket } from 'node:dgram';
import { createServer, isIP, type Server } from 'node:net';
import { alreadyExists, invalidArgument } from '../../core/errdefs/index.js';
import type { PortMapping } from '../labels.js';

/** The host address a port is published on when `-p` names none (docker's, every IPv4 address). */
export const ANY_HOST_IP = '0.0.0.0';

function parsePort(text: string, what: string, spec: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(text))
    throw invalidArgument(`invalid ${what} ${JSON.stringify(text)} in -p ${JSON.stringify(spec)}`);
  const n = Number(text);
  if (n > 65535 || (n === 0 && !allowZero)) {
    throw invalidArgument(
      `invalid ${what} ${JSON.stringify(text)} in -p ${JSON.stringify(spec)}: out of range`,
    );
  }
  return n;
}

function parseRange(
  text: string,
  what: string,
  spec: string,
  allowZero: boolean,
): [number, number] {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const p = parsePort(text, what, spec, allowZero);
    return [p, p];
  }
  const start = parsePort(text.slice(0, dash), what, spec, false);
  const end = parsePort(text.slice(dash + 1), what, spec, false);
  if (end < start)
    throw invalidArgument(
      `invalid ${what} range ${JSON.stringify(text)} in -p ${JSON.stringify(spec)}: end before start`,
    );
  return [start, end];
}

/**
 * Parses one docker `-p`/`--publish` value:
 * `[ip:][hostPort|hostRange]:containerPort[-end][/tcp|udp]`, `ip::containerPort`
 * and a bare `containerPort` (a random host port). IPv6 host addresses go in
 * brackets (`[::1]:8080:80`). A host port of 0 (or none) means "allocate one":
 * {@link allocateHostPorts} picks it. Ranges map port for port and must be of
 * equal length. Errors are invalid_argument and quote the spec.
 */
export function parsePublish(spec: string): PortMapping[] {
  const quoted = JSON.stringify(spec);
  let rest = spec.trim();
  if (rest === '') throw invalidArgument('invalid -p "": empty port spec');
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') {
      throw invalidArgument(
        `invalid protocol ${JSON.stringify(rest.slice(slash + 1))} in -p ${quoted}: tcp or udp`,
      );
    }
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIP = '';
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':')
      throw invalidArgument(`invalid -p ${quoted}: unclosed or misplaced IPv6 address`);
    hostIP = rest.slice(1, close);
    rest = rest.slice(close + 2);
    if (isIP(hostIP) !== 6)
      throw invalidArgument(`invalid host IP ${JSON.stringify(hostIP)} in -p ${quoted}`);
  }
  const parts = rest.split(':');
  let hostPart = '';
  let ctrPart: string;
  if (hostIP !== '') {
    if (parts.length > 2) throw invalidArgument(`invalid -p ${quoted}: too many colons`);
    if (parts.length === 2) {
      hostPart = parts[0] as string;
      ctrPart = parts[1] as string;
    } else ctrPart = parts[0] as string;
  } else if (parts.length === 1) {
    ctrPart = parts[0] as string;
  } else if (parts.length === 2) {
    hostPart = parts[0] as string;
    ctrPart = parts[1] as string;
  } else if (parts.length === 3) {
    hostIP = parts[0] as string;
    hostPart = parts[1] as string;
    ctrPart = parts[2] as string;
    if (hostIP !== '' && isIP(hostIP) === 0)
      throw invalidArgument(`invalid host IP ${JSON.stringify(hostIP)} in -p ${quoted}`);
  } else {
    throw invalidArgument(
      `invalid -p ${quoted}: too many colons (IPv6 host addresses go in brackets)`,
    );
  }
  if (ctrPart === '') throw invalidArgument(`invalid -p ${quoted}: no container port`);
  const [cStart, cEnd] = parseRange(ctrPart, 'container port', spec, false);
  let hStart = 0;
  let hEnd = 0;
  if (hostPart !== '') {
    [hStart, hEnd] = parseRange(hostPart, 'host port', spec, true);
    if (hStart !== 0 && hEnd - hStart !== cEnd - cStart) {
      throw invalidArgument(
        `invalid -p ${quoted}: host range ${hostPart} and container range ${ctrPart} differ in length`,
      );
    }
  }
  const out: PortMapping[] = [];
  for (let i = 0; i <= cEnd - cStart; i++) {
    out.push({
      hostIP: hostIP || ANY_HOST_IP,
      hostPort: hStart === 0 ? 0 : hStart + i,
      containerPort: cStart + i,
      protocol,
    });
  }
  return out;
}

/**
 * The mappings of `-P`: every port the image exposes (its config's
 * `ExposedPorts`, keys `80/tcp`, `53/udp`, `8000-8010/tcp`) on a random host port.
 */
export function exposedPortMappings(
  exposed: Readonly<Record<string, unknown>> | undefined,
): PortMapping[] {
  const out: PortMapping[] = [];
  for (const key of Object.keys(exposed ?? {}).sort()) {
    const [port = '', proto = 'tcp'] = key.split('/');
    const p = proto.toLowerCase();
    if (p !== 'tcp' && p !== 'udp') continue; // sctp: not published, as portmap here takes tcp and udp
    out.push(...parsePublish(`${port}/${p}`));
  }
  return out;
}

/** A socket holding a port while others are picked, so no two mappings get the same one. */
interface Held {
  port: number;
  close(): Promise<void>;
}

function bindTcp(host: string, port: number): Promise<Held> {
  return new Promise((resolve, reject) => {
    const srv: Server = createServer();
    srv.once('error', reject);
    srv.listen({ host, port, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : port;
      resolve({ port: got, close: () => new Promise((r) => srv.close(() => r())) });
    });
  });
}

function bindUdp(host: string, port: number): Promise<Held> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    sock.once('error', reject);
    sock.bind({ address: host, port, exclusive: true }, () => {
      resolve({
        port: sock.address().port,
        close: () => new Promise((r) => sock.close(() => r())),
      });
    });
  });
}

function key(m: { hostIP: string; hostPort: number; protocol: string }): string {
  return `${m.protocol}/${m.hostPort}`;
}

/**
 * Gives every mapping with host port 0 a free one and checks that the
 * others are free: each is bound (on its host address, tcp or udp), the
 * kernel choosing the ephemeral ports, all held until every one is picked.
 * Ports in `inUse` (other containers' mappings: their DNAT rules bind
 * nothing) are never chosen, and an explicit one among them is refused.
 * Fails already_exists as docker does: `Bind for 0.0.0.0:8080 failed: port is already allocated`.
 */
export async function allocateHostPorts(
  mappings: readonly PortMapping[],
  opts: { inUse?: readonly PortMapping[] } = {},
): Promise<PortMapping[]> {
  const taken = new Set((opts.inUse ?? []).map(key));
  const held: Held[] = [];
  const out: PortMapping[] = [];
  try {
    for (const m of mappings) {
      const host = m.hostIP || ANY_HOST_IP;
      const bind = m.protocol === 'udp' ? bindUdp : bindTcp;
      if (m.hostPort !== 0) {
        const busy = () =>
          alreadyExists(`Bind for ${host}:${m.hostPort} failed: port is already allocated`);
        if (taken.has(key(m))) throw busy();
        try {
          held.push(await bind(host, m.hostPort));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw busy();
          throw invalidArgument(
            `cannot publish ${host}:${m.hostPort}/${m.protocol}: ${(e as Error).message}`,
          );
        }
        taken.add(key(m));
        out.push({ ...m, hostIP: host });
        continue;
      }
      let picked: Held | undefined;
      for (let tries = 0; tries < 64 && picked === undefined; tries++) {
        const h = await bind(host, 0);
        held.push(h);
        if (!taken.has(key({ ...m, hostPort: h.port }))) picked = h;
      }
      if (picked === undefined) throw alreadyExists(`no free host port for ${host}/${m.protocol}`);
      taken.add(key({ ...m, hostPort: picked.port }));
      out.push({ ...m, hostIP: host, hostPort: picked.port });
    }
  } finally {
    await Promise.all(held.map((h) => h.close()));
  }
  return out;
}
