import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Any } from '../api/google/protobuf/any.js';
import { LocalContentStore } from '../content/index.js';
import type { Applier, Comparer } from '../core/diff/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { CHECKPOINT_CONFIG_MEDIA_TYPE, TaskCheckpointer, writeSpec } from './checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-checkpoint-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ctx: OpContext = { namespace: 'ns', signal: new AbortController().signal, log: nullLogger };

describe('writeSpec', () => {
  const store = new LocalContentStore(join(dir, 'content'));
  const spec = {
    typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
    value: Buffer.from('{"ociVersion":"1.0.2"}'),
  };

  it('stores the spec as a marshalled Any and describes it', async () => {
    const desc = await writeSpec(ctx, store, spec);
    assert.equal(desc.mediaType, CHECKPOINT_CONFIG_MEDIA_TYPE);
    const chunks: Buffer[] = [];
    for await (const c of store.read(ctx, desc.digest)) chunks.push(c);
    const bytes = Buffer.concat(chunks);
    assert.equal(bytes.length, desc.size);
    const any = Any.decode(bytes);
    assert.equal(any.typeUrl, spec.typeUrl);
    assert.deepEqual(Buffer.from(any.value), spec.value);
  });

  it('answers the same descriptor when the blob is already there', async () => {
    assert.deepEqual(await writeSpec(ctx, store, spec), await writeSpec(ctx, store, spec));
  });
});

describe('TaskCheckpointer', () => {
  it('clears what an earlier daemon left in its scratch dir, and keeps the dir', () => {
    const scratch = join(dir, 'scratch');
    mkdirSync(join(scratch, 'checkpoint-1', 'image'), { recursive: true });
    writeFileSync(join(scratch, 'checkpoint-1', 'image', 'pages-1.img'), 'x');
    writeFileSync(join(scratch, 'stray'), 'y');
    new TaskCheckpointer({
      scratch,
      // Construction touches neither.
      comparer: {} as Comparer,
      applier: {} as Applier,
      content: new LocalContentStore(join(dir, 'content')),
    });
    assert.deepEqual(readdirSync(scratch), []);
  });
});
