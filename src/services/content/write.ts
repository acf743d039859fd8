import {
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../../api/containerd/services/content/v1/content.js';
import type { ContentStore } from '../../core/content/index.js';
import { alreadyExists, invalidArgument, outOfRange } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { toTimestamp } from '../../wire/timestamp.js';

/**
 * Content.Write: the bidi ingest protocol containerd's clients drive.
 *
 * The first request names the ref and opens (and locks) the writer. Every
 * request gets exactly one response carrying the current offset. STAT
 * reports the ingest; WRITE appends (an offset > 0 must equal the current
 * one, OUT_OF_RANGE otherwise; offset 0 on a non-empty ingest restarts it);
 * COMMIT writes any data, verifies and stores the blob, answers, and ends
 * the stream. A request naming an `expected` blob that already exists
 * aborts the ingest and answers ALREADY_EXISTS, which clients take as done.
 */
export async function handleWrite(
  store: ContentStore,
  ctx: OpContext,
  requests: AsyncIterable<WriteContentRequest>,
  send: (res: WriteContentResponse) => Promise<void>,
): Promise<void> {
  const it = requests[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  let req = first.value;
  const ref = req.ref;
  if (!ref) throw invalidArgument('first message must have a reference');
  let total = Number(req.total);
  let expected = req.expected;

  const wr = await store.writer(ctx, {
    ref,
    ...(total > 0 && { total }),
    ...(expected && { expected }),
  });
  let committed = false;
  try {
    for (;;) {
      const ws = await wr.status();
      const res: WriteContentResponse = {
        action: req.action,
        offset: BigInt(ws.offset),
        total: 0n,
        digest: '',
      };
      if (req.expected) {
        expected = req.expected;
        if (await exists(store, ctx, req.expected)) {
          await wr.close();
          await store.abort(ctx, ref).catch(() => {});
          committed = true;
          throw alreadyExists(`blob with expected digest ${req.expected} exists`);
        }
      }
      if (req.total > 0n) total = Number(req.total);

      if (req.action === WriteAction.STAT) {
        res.digest = wr.digest();
        res.startedAt = toTimestamp(ws.startedAt);
        res.updatedAt = toTimestamp(ws.updatedAt);
        res.total = BigInt(total);
      } else if (req.action === WriteAction.WRITE || req.action === WriteAction.COMMIT) {
        let offset = ws.offset;
        if (req.offset > 0n && Number(req.offset) !== offset) {
          throw outOfRange(`write @${req.offset} must occur at current offset ${offset}`);
        }
        if (req.offset === 0n && offset > 0) {
          await wr.truncate(0);
          offset = 0;
        }
        if (req.data.length > 0) {
          await wr.write(req.data);
          offset += req.data.length;
        }
        res.offset = BigInt(offset);
        if (req.action === WriteAction.COMMIT) {
          committed = true;
          await wr.commit(total, expected || undefined, {
            ...(Object.keys(req.labels).length > 0 && { labels: req.labels }),
          });
        }
        res.digest = wr.digest();
      } else {
        throw invalidArgument(`unknown write action ${req.action}`);
      }

      await send(res);
      if (req.action === WriteAction.COMMIT) return;
      const next = await it.next();
      if (next.done) return;
      req = next.value;
    }
  } finally {
    if (!committed) await wr.close();
  }
}

async function exists(store: ContentStore, ctx: OpContext, digest: string): Promise<boolean> {
  try {
    await store.info(ctx, digest);
    return true;
  } catch {
    return false;
  }
}
