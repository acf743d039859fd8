import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nullLogger } from '../core/log/index.js';
import { EventExchange } from '../events/index.js';
import * as payloads from './event-payloads.js';
import { eventFields, eventType } from './event-payloads.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('event payloads', () => {
  it("use containerd's bare type URLs", () => {
    const urls = Object.entries(payloads)
      .filter(([, v]) => typeof v === 'function' && 'typeUrl' in v)
      .map(([k, v]) => [k, (v as { typeUrl: string }).typeUrl]);
    assert.equal(urls.length, 23);
    const byName = Object.fromEntries(urls);
    assert.equal(byName.namespaceCreate, 'containerd.events.NamespaceCreate');
    assert.equal(byName.namespaceDelete, 'containerd.events.NamespaceDelete');
    assert.equal(byName.imageCreate, 'containerd.services.images.v1.ImageCreate');
    assert.equal(byName.imageUpdate, 'containerd.services.images.v1.ImageUpdate');
    assert.equal(byName.contentDelete, 'containerd.events.ContentDelete');
    assert.equal(byName.snapshotPrepare, 'containerd.events.SnapshotPrepare');
    assert.equal(byName.containerCreate, 'containerd.events.ContainerCreate');
    assert.equal(byName.taskExit, 'containerd.events.TaskExit');
    assert.equal(byName.taskOOM, 'containerd.events.TaskOOM');
    for (const [, url] of urls) assert.ok(eventType(url as string), url);
  });

  it('encode as the Go client does, and decode back', () => {
    const p = payloads.namespaceCreate({ name: 'a', labels: { k: 'v' } });
    // field 1 "a"; field 2 map entry {1: "k", 2: "v"}
    assert.equal(hex(p.value), '0a016112060a016b120176');
    assert.deepEqual(eventType(p.typeUrl)?.decode(p.value), { name: 'a', labels: { k: 'v' } });
    // Left-out fields take proto defaults.
    assert.deepEqual(payloads.taskExit.decode(payloads.taskExit({ containerId: 'c' }).value), {
      containerId: 'c',
      id: '',
      pid: 0,
      exitStatus: 0,
      exitedAt: undefined,
    });
  });

  it("expose to filters what containerd's Field() methods expose", () => {
    assert.deepEqual(eventFields(payloads.namespaceCreate({ name: 'a', labels: { 'x.y': 'z' } })), {
      name: 'a',
      labels: new Map([['x.y', 'z']]),
    });
    // Empty strings and empty labels are absent; numbers and times are not exposed.
    assert.deepEqual(eventFields(payloads.namespaceUpdate({ name: '' })), {
      name: undefined,
      labels: undefined,
    });
    assert.deepEqual(
      eventFields(
        payloads.taskExit({
          containerId: 'c',
          id: 'e',
          pid: 7,
          exitStatus: 1,
          exitedAt: { seconds: 1n, nanos: 0 },
        }),
      ),
      { container_id: 'c', id: 'e' },
    );
    assert.deepEqual(eventFields({ typeUrl: 'unknown.Type', value: new Uint8Array() }), undefined);
  });

  it('let the exchange filter on event fields by proto name', async () => {
    const ex = new EventExchange({ decode: eventFields });
    const sub = (filter: string) =>
      ex.subscribe({ signal: new AbortController().signal, log: nullLogger }, [filter]);
    const subs = {
      cid: sub('event.container_id==c1'),
      terminal: sub('event.io.terminal==false'),
      runtime: sub('event.runtime.name~=runc'),
      label: sub('event.labels.team==a'),
      dotted: sub('event.labels."io.x/y"==1'),
      pid: sub('event.pid'),
      snapshotKey: sub('event.snapshot_key==k'),
    };
    const ctx = { namespace: 'n', signal: new AbortController().signal, log: nullLogger };
    await ex.publish(ctx, '/tasks/exit', payloads.taskExit({ containerId: 'c1', pid: 3 }));
    await ex.publish(
      ctx,
      '/tasks/create',
      payloads.taskCreate({
        containerId: 'c2',
        io: { stdin: '', stdout: '', stderr: '', terminal: false },
      }),
    );
    await ex.publish(
      ctx,
      '/containers/create',
      payloads.containerCreate({ id: 'c3', runtime: { name: 'io.containerd.runc.v2' } }),
    );
    await ex.publish(
      ctx,
      '/images/create',
      payloads.imageCreate({ name: 'i', labels: { team: 'a' } }),
    );
    await ex.publish(
      ctx,
      '/namespaces/update',
      payloads.namespaceUpdate({ name: 'x', labels: { 'io.x/y': '1' } }),
    );
    await ex.publish(
      ctx,
      '/containers/update',
      payloads.containerUpdate({ id: 'c4', snapshotKey: 'k' }),
    );
    const got: Record<string, string[]> = {};
    for (const [k, s] of Object.entries(subs)) {
      const it = s[Symbol.asyncIterator]() as AsyncIterator<{ topic: string }> & {
        queued: number;
      };
      got[k] = [];
      while (it.queued > 0) got[k].push(((await it.next()).value as { topic: string }).topic);
    }
    assert.deepEqual(got, {
      cid: ['/tasks/exit'],
      terminal: ['/tasks/create'],
      runtime: ['/containers/create'],
      label: ['/images/create'],
      dotted: ['/namespaces/update'],
      pid: [],
      snapshotKey: ['/containers/update'],
    });
  });
});
