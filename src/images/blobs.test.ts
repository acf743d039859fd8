import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coalesce } from './blobs.js';

async function* from(...sizes: number[]): AsyncGenerator<Buffer> {
  let b = 0;
  for (const n of sizes) {
    const chunk = Buffer.alloc(n);
    for (let i = 0; i < n; i++) chunk[i] = b++ & 0xff;
    yield chunk;
  }
}

async function collect(src: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of src) out.push(c);
  return out;
}

test('coalesce groups small buffers up to the size, keeping every byte in order', async () => {
  const out = await collect(coalesce(from(3, 3, 3, 3, 2), 8));
  assert.deepEqual(
    out.map((c) => c.length),
    [9, 5],
  );
  const all = Buffer.concat(out);
  assert.deepEqual([...all], [...Buffer.concat(await collect(from(3, 3, 3, 3, 2)))]);
});

test('coalesce passes a large buffer through uncopied when nothing is held', async () => {
  const big = Buffer.alloc(20);
  async function* src() {
    yield big;
    yield Buffer.alloc(1);
  }
  const out = await collect(coalesce(src(), 8));
  assert.equal(out[0], big);
  assert.deepEqual(
    out.map((c) => c.length),
    [20, 1],
  );
});

test('coalesce yields nothing for an empty source', async () => {
  assert.deepEqual(await collect(coalesce(from(), 8)), []);
});

test('coalesce yields what it holds before the source’s error', async () => {
  async function* src() {
    yield Buffer.alloc(3);
    yield Buffer.alloc(2);
    throw new Error('connection reset');
  }
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const c of coalesce(src(), 8)) got.push(c.length);
  }, /connection reset/);
  assert.deepEqual(got, [5]);
});
