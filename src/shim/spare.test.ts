import assert from 'node:assert/strict';
import { closeSync, writeSync } from 'node:fs';
import { describe, it } from 'node:test';
import { pipe2 } from '../sys/linux.js';
import { encodeSpareOrder, parseSpareOrder, readSpareOrder, type SpareOrder } from './spare.js';

const order: SpareOrder = {
  namespace: 'default',
  id: 'c1',
  address: '/run/berth/berth.sock',
  publishBinary: '/usr/bin/berthd',
  socket: 'unix:///run/containerd/s/abc',
  log: '/run/berth/io.containerd.runtime.v2.task/default/c1/log',
};

describe('spare order', () => {
  it('round-trips as one JSON line', () => {
    const line = encodeSpareOrder(order);
    assert.ok(line.endsWith('\n'));
    assert.equal(line.indexOf('\n'), line.length - 1);
    assert.deepEqual(parseSpareOrder(line.trim()), order);
  });

  it('refuses what is not an order, naming what is wrong', () => {
    assert.throws(() => parseSpareOrder('{'), /spare order is not JSON/);
    assert.throws(() => parseSpareOrder('[1]'), /no string namespace/);
    assert.throws(() => parseSpareOrder('null'), /not an object/);
    const { log: _, ...noLog } = order;
    assert.throws(() => parseSpareOrder(JSON.stringify(noLog)), /no string log/);
    assert.throws(
      () => parseSpareOrder(JSON.stringify({ ...order, namespace: '' })),
      /namespace cannot be empty/,
    );
    assert.throws(
      () => parseSpareOrder(JSON.stringify({ ...order, socket: '' })),
      /no socket to serve on/,
    );
  });

  it('reads the first line from the pipe, in pieces too', async () => {
    const [r, w] = pipe2(0);
    const got = readSpareOrder(r);
    const line = encodeSpareOrder(order);
    writeSync(w, line.slice(0, 10));
    await new Promise((res) => setTimeout(res, 20));
    writeSync(w, line.slice(10));
    assert.equal(await got, line.trim());
    closeSync(w);
  });

  it('answers undefined when the pipe ends before a whole line', async () => {
    const [r, w] = pipe2(0);
    const got = readSpareOrder(r);
    writeSync(w, '{"namespace":');
    closeSync(w);
    assert.equal(await got, undefined);
  });
});
