/**
 * @module
 * `berth events` lines and filters: containerd's envelopes shown as docker
 * shows its events, one line each: `<RFC3339Nano time> <topic> <namespace>
 * <payload fields>`, or JSON lines.
 */

/** Go's RFC3339Nano in UTC from nanoseconds since the epoch (trailing zeros of the fraction dropped). */
export function rfc3339Nano(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${base}${frac === '' ? '' : `.${frac}`}Z`;
}

/** The payload's scalar fields as `key=value` (empty ones left out), docker's attribute list. */
export function payloadFields(event: Record<string, unknown> | undefined): string {
  if (event === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(event)) {
    if (v === '' || v === undefined || v === null) continue;
    if (
      typeof v === 'string' ||
      typeof v === 'number' ||
      typeof v === 'boolean' ||
      typeof v === 'bigint'
    ) {
      parts.push(`${k}=${String(v)}`);
    } else if (k === 'labels' && typeof v === 'object' && !Array.isArray(v)) {
      for (const [lk, lv] of Object.entries(v as Record<string, unknown>))
        parts.push(`${lk}=${String(lv)}`);
    }
  }
  return parts.join(', ');
}

/** One line of `berth events`. */
export function eventLine(e: {
  timestampNanos: bigint;
  topic: string;
  namespace: string;
  event: Record<string, unknown> | undefined;
}): string {
  const fields = payloadFields(e.event);
  return `${rfc3339Nano(e.timestampNanos)} ${e.topic} ${e.namespace}${fields === '' ? '' : ` (${fields})`}`;
}

/** An event as a JSON line: bigints as numbers when exact, bytes as base64. */
export function eventJson(e: {
  timestampNanos: bigint;
  topic: string;
  namespace: string;
  type: string;
  event: Record<string, unknown> | undefined;
}): string {
  return JSON.stringify(
    {
      time: rfc3339Nano(e.timestampNanos),
      timeNano: e.timestampNanos,
      namespace: e.namespace,
      topic: e.topic,
      type: e.type,
      event: e.event ?? null,
    },
    (_k, v: unknown) => {
      if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
      return v;
    },
  );
}

const q = (v: string) => JSON.stringify(v);

/**
 * containerd filters from docker-style `--filter key=value`: values of one
 * key are alternatives, keys all apply (one containerd filter per
 * combination, comma-joined within). Keys: `namespace`, `topic`, `type`
 * (`container`, `task`, `image`, …: the topic's first part), `event` (the
 * topic's last part: `start`, `exit`, `create`), `container` (the payload's
 * container id). A value holding `==`, `!=` or `~=` is a containerd filter
 * and is passed as it is. Without a `namespace` filter, the client's.
 */
export function eventFilters(args: readonly string[], namespace: string): string[] {
  const raw: string[] = [];
  const byKey = new Map<string, string[]>();
  for (const a of args) {
    if (/==|!=|~=/.test(a)) {
      raw.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq <= 0) throw new Error(`bad format of filter (expected name=value): ${a}`);
    const key = a.slice(0, eq);
    const value = a.slice(eq + 1);
    let f: string;
    switch (key) {
      case 'namespace':
        f = `namespace==${q(value)}`;
        break;
      case 'topic':
        f = `topic==${q(value)}`;
        break;
      case 'type':
        f = `topic~=${q(`^/${value.replace(/s$/, '')}s/`)}`;
        break;
      case 'event':
        f = `topic~=${q(`/${value}$`)}`;
        break;
      case 'container':
        f = `event.containerId==${q(value)}`;
        break;
      default:
        throw new Error(`invalid filter '${key}'`);
    }
    byKey.set(key, [...(byKey.get(key) ?? []), f]);
  }
  if (!byKey.has('namespace') && raw.length === 0)
    byKey.set('namespace', [`namespace==${q(namespace)}`]);
  let combos: string[][] = [[]];
  for (const alternatives of byKey.values()) {
    combos = combos.flatMap((c) => alternatives.map((a) => [...c, a]));
  }
  const built = byKey.size === 0 ? [] : combos.map((c) => c.join(','));
  return [...built, ...raw];
}
