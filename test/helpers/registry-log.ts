/**
 * Blob requests as Debian's docker-registry (distribution 2.8) logs them at
 * `info` level: one `msg="response completed"` line per request, with
 * `http.request.method`, `http.request.uri` and `http.response.status`.
 * Start the registry with `Registry.start(dir, { logLevel: 'info' })` and
 * read `registry.output` (slice it at a mark to see one phase).
 */

export interface BlobRequest {
  method: string;
  /** The repository, `name` in `/v2/<name>/blobs/<digest>`. */
  repository: string;
  digest: string;
  status: number;
}

const FIELD = (name: string) =>
  new RegExp(`${name.replace(/\./g, '\\.')}=("(?:[^"\\\\]|\\\\.)*"|\\S+)`);
const METHOD = FIELD('http.request.method');
const URI = FIELD('http.request.uri');
const STATUS = FIELD('http.response.status');
const BLOB_URI = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/;

function field(line: string, re: RegExp): string | undefined {
  const m = re.exec(line)?.[1];
  if (m === undefined) return undefined;
  return m.startsWith('"') ? (JSON.parse(m) as string) : m;
}

/** Every completed GET or HEAD of a blob in `log`, in order. */
export function blobRequests(log: string): BlobRequest[] {
  const out: BlobRequest[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('msg="response completed"')) continue;
    const method = field(line, METHOD);
    const uri = field(line, URI);
    if ((method !== 'GET' && method !== 'HEAD') || uri === undefined) continue;
    const m = BLOB_URI.exec(uri.split('?')[0]!);
    if (!m) continue;
    out.push({ method, repository: m[1]!, digest: m[2]!, status: Number(field(line, STATUS)) });
  }
  return out;
}

/** How many times each digest was fetched (`GET`, whatever the status) in `log`. */
export function blobGets(log: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of blobRequests(log)) {
    if (r.method === 'GET') counts.set(r.digest, (counts.get(r.digest) ?? 0) + 1);
  }
  return counts;
}
