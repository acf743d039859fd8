/**
 * The container store conformance suite: one set of cases for every
 * {@link ContainerStore} (the SQLite store, the gRPC service through a real
 * socket), with containerd's behaviour (metadata/containers.go) where the
 * contract leaves room. It uses only the interface and the context it is
 * given:
 *
 * ```ts
 * containerSuite('sqlite', async () => ({ store, ctx, cleanup, reopen }));
 * ```
 *
 * Each case gets a fresh fixture. Ids carry a random prefix and filters
 * name them, so the cases also hold on a store that is not empty.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type ErrorKind, kindOf } from '../errdefs/index.js';
import type { OpContext } from '../namespaces/index.js';
import type { AnyValue, Container, ContainerRecord, ContainerStore } from './index.js';

export interface ContainerSuiteFixture {
  store: ContainerStore;
  /** The context every call is made with; its namespace is the suite's. */
  ctx: OpContext;
  /** Releases the fixture, including stores returned by `reopen`. */
  cleanup(): Promise<void>;
  /** A new store on the same state, as after a restart; without it that case is skipped. */
  reopen?(): Promise<ContainerStore>;
}

const SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const RUNC_OPTIONS = 'containerd.runc.v1.Options';

const any = (typeUrl: string, value: Uint8Array | string): AnyValue => ({
  typeUrl,
  value: typeof value === 'string' ? new TextEncoder().encode(value) : value,
});

export function containerSuite(name: string, make: () => Promise<ContainerSuiteFixture>): void {
  describe(`container store conformance: ${name}`, () => {
    let fx: ContainerSuiteFixture;
    let store: ContainerStore;
    let ctx: OpContext;
    let prefix: string;
    const id = (suffix: string) => `${prefix}-${suffix}`;
    /** A valid record with a snapshot, a spec and runtime options. */
    const record = (suffix: string, over: Partial<ContainerRecord> = {}): ContainerRecord => ({
      id: id(suffix),
      labels: {},
      image: 'docker.io/library/busybox:latest',
      runtime: { name: 'io.containerd.runc.v2', options: any(RUNC_OPTIONS, new Uint8Array()) },
      spec: any(SPEC_TYPE, '{"ociVersion":"1.0.2-dev"}'),
      snapshotter: 'overlayfs',
      snapshotKey: id(suffix),
      sandbox: '',
      extensions: {},
      ...over,
    });
    const mine = (filters: string[] = []) =>
      store
        .list(ctx, filters)
        .then((cs) => cs.filter((c) => c.id.startsWith(`${prefix}-`)).map((c) => c.id));

    beforeEach(async () => {
      fx = await make();
      store = fx.store;
      ctx = fx.ctx;
      prefix = `c${randomBytes(5).toString('hex')}`;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('creates, gets and lists a container with every field kept byte for byte', async () => {
      // Every byte value, so nothing on the way treats the spec as text.
      const spec = any(
        SPEC_TYPE,
        Uint8Array.from({ length: 256 }, (_, i) => i),
      );
      const input = record('full', {
        labels: { 'io.example/a': '1', b: 'two' },
        spec,
        sandbox: 'sb-1',
        extensions: {
          ext1: any('example.com/Ext', Uint8Array.from([0, 1, 2, 255])),
          ext2: any('', new Uint8Array()),
        },
      });
      const before = BigInt(Date.now() - 1000) * 1_000_000n;
      const created = await store.create(ctx, input);
      assertRecord(created, input);
      assert.ok(created.createdAt >= before, 'createdAt is now, in nanoseconds');
      assert.equal(created.updatedAt, created.createdAt);

      const got = await store.get(ctx, id('full'));
      assert.deepEqual(got, created);
      assert.deepEqual(got.spec?.value, spec.value);
      assert.ok(got.runtime.options, 'empty runtime options stay present');
      assert.equal(got.runtime.options.value.length, 0);
      assert.deepEqual(
        (await store.list(ctx)).find((c) => c.id === id('full')),
        created,
      );
    });

    it('keeps absent runtime options absent', async () => {
      const created = await store.create(ctx, record('noopts', { runtime: { name: 'rt' } }));
      assert.equal(created.runtime.options, undefined);
      assert.deepEqual((await store.get(ctx, id('noopts'))).runtime, { name: 'rt' });
    });

    it('does not store labels with empty values', async () => {
      const c = await store.create(ctx, record('el', { labels: { keep: 'x', drop: '' } }));
      assert.deepEqual(c.labels, { keep: 'x' });
      assert.deepEqual((await store.get(ctx, id('el'))).labels, { keep: 'x' });
    });

    it('creates a container without a snapshot or image', async () => {
      const c = await store.create(
        ctx,
        record('bare', { image: '', snapshotter: '', snapshotKey: '' }),
      );
      assert.equal(c.image, '');
      assert.equal((await store.get(ctx, id('bare'))).snapshotKey, '');
    });

    it('refuses a duplicate id with already_exists and keeps the first', async () => {
      await store.create(ctx, record('dup', { image: 'first' }));
      await rejectsWith(store.create(ctx, record('dup', { image: 'second' })), 'already_exists', [
        `container "${id('dup')}"`,
      ]);
      assert.equal((await store.get(ctx, id('dup'))).image, 'first');
    });

    it('answers not_found for an unknown container', async () => {
      await rejectsWith(store.get(ctx, id('none')), 'not_found', [
        `container "${id('none')}" in namespace "${ctx.namespace}"`,
      ]);
      await rejectsWith(store.update(ctx, record('none')), 'not_found', [id('none')]);
      await rejectsWith(store.delete(ctx, id('none')), 'not_found', [id('none')]);
    });

    it('validates records as containerd does, creating nothing on failure', async () => {
      const cases: [string, ContainerRecord, string][] = [
        ['bad id', record('x', { id: 'bad id!' }), 'container.ID: identifier'],
        ['empty id', record('x', { id: '' }), 'container.ID: identifier must not be empty'],
        ['long id', record('x', { id: 'a'.repeat(77) }), 'container.ID'],
        [
          'runtime name',
          record('rt', { runtime: { name: '' } }),
          'container.Runtime.Name must be set',
        ],
        ['spec', withoutSpec(record('spec')), 'container.Spec must be set'],
        [
          'snapshotter',
          record('sk', { snapshotter: '' }),
          'container.Snapshotter must be set if container.SnapshotKey is set',
        ],
        [
          'extension key',
          record('ek', { extensions: { '': any('t', 'v') } }),
          'container.Extension keys must not be zero-length',
        ],
        [
          'label size',
          record('ls', { labels: { k: 'v'.repeat(4096) } }),
          'containers.Labels: label key and value greater than maximum size',
        ],
      ];
      for (const [what, c, message] of cases) {
        await rejectsWith(
          store.create(ctx, c),
          'invalid_argument',
          ['create container failed validation', message],
          what,
        );
      }
      assert.deepEqual(await mine(), []);
    });

    it('updates the fields named by paths, in order, and keeps the rest', async () => {
      const created = await store.create(
        ctx,
        record('p', {
          labels: { keep: '1', drop: '2', replace: '3' },
          extensions: { e1: any('t1', 'one'), e2: any('t2', 'two') },
        }),
      );
      await new Promise((r) => setTimeout(r, 5));
      const incoming = record('p', {
        labels: { replace: 'new', add: '4' },
        image: 'other:tag',
        spec: any(SPEC_TYPE, '{"ociVersion":"1.1.0"}'),
        snapshotKey: 'other-key',
        runtime: { name: 'ignored' },
        snapshotter: 'ignored',
        extensions: { e2: any('t2b', 'TWO'), e3: any('t3', 'three') },
      });
      let got = await store.update(ctx, incoming, [
        'labels.replace',
        'labels.add',
        'labels.drop',
        'extensions.e2',
        'extensions.e1',
      ]);
      assert.deepEqual(got.labels, { keep: '1', replace: 'new', add: '4' });
      assert.deepEqual(got.extensions, { e2: any('t2b', 'TWO') });
      assert.equal(got.image, created.image, 'image untouched');
      assert.deepEqual(got.spec, created.spec, 'spec untouched');
      assert.equal(got.createdAt, created.createdAt);
      assert.ok(got.updatedAt > created.updatedAt, 'updatedAt moves');
      assert.deepEqual(await store.get(ctx, id('p')), got);

      got = await store.update(ctx, incoming, ['image', 'spec', 'snapshotkey', 'extensions']);
      assert.equal(got.image, 'other:tag');
      assert.deepEqual(got.spec, incoming.spec);
      assert.equal(got.snapshotKey, 'other-key');
      assert.deepEqual(got.extensions, incoming.extensions);
      assert.deepEqual(got.runtime, created.runtime, 'runtime is not updated by paths');
      assert.equal(got.snapshotter, 'overlayfs');

      got = await store.update(ctx, record('p', { labels: { only: 'x' } }), ['labels']);
      assert.deepEqual(got.labels, { only: 'x' });
      assert.deepEqual(await store.get(ctx, id('p')), got);
    });

    it('refuses paths to immutable or unknown fields', async () => {
      await store.create(ctx, record('imm'));
      for (const path of ['runtime', 'runtime.name', 'snapshotter', 'id', 'sandbox', 'nope']) {
        await rejectsWith(
          store.update(ctx, record('imm', { image: 'changed' }), ['image', path]),
          'invalid_argument',
          [`cannot update "${path}" field on "${id('imm')}"`],
          path,
        );
      }
      assert.equal((await store.get(ctx, id('imm'))).image, 'docker.io/library/busybox:latest');
    });

    it('replaces every mutable field without paths, keeping runtime options', async () => {
      const created = await store.create(
        ctx,
        record('full-replace', { labels: { a: '1' }, extensions: { e: any('t', 'v') } }),
      );
      const incoming = record('full-replace', {
        labels: { b: '2' },
        image: 'new-image',
        spec: any(SPEC_TYPE, '{}'),
        snapshotKey: 'k2',
        runtime: { name: 'io.containerd.runc.v2' },
        extensions: {},
      });
      const got = await store.update(ctx, incoming);
      assert.deepEqual(got.labels, { b: '2' });
      assert.equal(got.image, 'new-image');
      assert.deepEqual(got.spec, any(SPEC_TYPE, '{}'));
      assert.equal(got.snapshotKey, 'k2');
      assert.deepEqual(got.extensions, {});
      assert.deepEqual(got.runtime, created.runtime, 'options are not part of a full replace');
      assert.deepEqual(await store.get(ctx, id('full-replace')), got);
    });

    it('refuses a full replace that changes an immutable field', async () => {
      await store.create(ctx, record('fr', { sandbox: 'sb' }));
      const cases: [Partial<ContainerRecord>, string][] = [
        [{ snapshotter: 'native' }, 'container.Snapshotter field is immutable'],
        [
          { runtime: { name: 'io.containerd.kata.v2' } },
          'container.Runtime.Name field is immutable',
        ],
        [{ sandbox: 'other' }, 'container.SandboxID field is immutable'],
      ];
      for (const [over, message] of cases) {
        await rejectsWith(
          store.update(ctx, record('fr', { sandbox: 'sb', image: 'x', ...over })),
          'invalid_argument',
          [message],
        );
      }
      assert.equal((await store.get(ctx, id('fr'))).image, 'docker.io/library/busybox:latest');
    });

    it('validates the updated record and leaves the stored one on failure', async () => {
      await store.create(ctx, record('uv', { snapshotter: '', snapshotKey: '' }));
      await rejectsWith(
        store.update(ctx, record('uv', { snapshotKey: 'k' }), ['snapshotkey']),
        'invalid_argument',
        ['update failed validation', 'container.Snapshotter must be set'],
      );
      await rejectsWith(
        store.update(ctx, withoutSpec(record('uv', { snapshotter: '', snapshotKey: '' }))),
        'invalid_argument',
        ['update failed validation', 'container.Spec must be set'],
      );
      await rejectsWith(
        store.update(ctx, record('uv', { labels: { k: 'v'.repeat(5000) } }), ['labels.k']),
        'invalid_argument',
        ['update failed validation', 'containers.Labels'],
      );
      const got = await store.get(ctx, id('uv'));
      assert.equal(got.snapshotKey, '');
      assert.deepEqual(got.labels, {});
      assert.equal(got.updatedAt, got.createdAt);
      await rejectsWith(store.update(ctx, record('uv', { id: '' })), 'invalid_argument');
    });

    it('filters on id, image, runtime.name and labels, as containerd', async () => {
      await store.create(ctx, record('f1', { labels: { team: 'a', 'io.x/y': 'z' } }));
      await store.create(
        ctx,
        record('f2', { image: 'example.com/other:1', runtime: { name: 'io.example.rt' } }),
      );
      await store.create(ctx, record('f3', { labels: { team: 'b' }, image: '' }));
      const cases: [string[], string[]][] = [
        [[], ['f1', 'f2', 'f3']],
        [[`id==${id('f2')}`], ['f2']],
        [['image==example.com/other:1'], ['f2']],
        [['image'], ['f1', 'f2']],
        [['runtime.name==io.example.rt'], ['f2']],
        [['runtime.name!=io.example.rt'], ['f1', 'f3']],
        [['labels.team==a'], ['f1']],
        [['labels.team'], ['f1', 'f3']],
        [['labels."io.x/y"==z'], ['f1']],
        [
          ['labels.team==a', 'labels.team==b'],
          ['f1', 'f3'],
        ],
        [['labels.team~=^[ab]$,image~=busybox'], ['f1']],
        [[`id~=^${prefix}-f[12]$`], ['f1', 'f2']],
        // containerd's adaptor has no snapshotter, snapshotkey or spec.
        [['snapshotter==overlayfs'], []],
        [['snapshotter'], []],
      ];
      for (const [filters, want] of cases) {
        assert.deepEqual(await mine(filters), want.map(id), JSON.stringify(filters));
      }
      await rejectsWith(store.list(ctx, ['labels.team==']), 'invalid_argument');
    });

    it('lists in id order', async () => {
      for (const s of ['b', 'a', 'c-2', 'c-10']) await store.create(ctx, record(s));
      assert.deepEqual(await mine(), ['a', 'b', 'c-10', 'c-2'].map(id));
    });

    it('deletes, after which the id is free again', async () => {
      await store.create(ctx, record('del', { extensions: { e: any('t', 'old') } }));
      await store.delete(ctx, id('del'));
      await rejectsWith(store.get(ctx, id('del')), 'not_found');
      assert.deepEqual(await mine(), []);
      const again = await store.create(ctx, record('del', { image: 'again' }));
      assert.equal(again.image, 'again');
      assert.deepEqual((await store.get(ctx, id('del'))).extensions, {}, 'nothing left over');
    });

    it('keeps namespaces apart', async () => {
      const other: OpContext = { ...ctx, namespace: `${prefix}-other` };
      await store.create(ctx, record('ns', { image: 'here' }));
      await rejectsWith(store.get(other, id('ns')), 'not_found', [`${prefix}-other`]);
      await store.create(other, record('ns', { image: 'there' }));
      assert.equal((await store.get(ctx, id('ns'))).image, 'here');
      assert.equal((await store.get(other, id('ns'))).image, 'there');
      await store.delete(other, id('ns'));
      assert.equal((await store.get(ctx, id('ns'))).image, 'here');
    });

    it('requires a namespace', async () => {
      const { namespace: _, ...rest } = ctx;
      const none: OpContext = rest;
      await rejectsWith(store.list(none), 'failed_precondition');
      await rejectsWith(store.create(none, record('nons')), 'failed_precondition');
    });

    it('keeps containers across a restart', async (t) => {
      if (fx.reopen === undefined) {
        t.skip('the fixture cannot reopen its store');
        return;
      }
      const created = await store.create(
        ctx,
        record('persist', { labels: { a: 'b' }, extensions: { e: any('t', 'v') } }),
      );
      const reopened = await fx.reopen();
      assert.deepEqual(await reopened.get(ctx, id('persist')), created);
    });
  });
}

function withoutSpec(c: ContainerRecord): ContainerRecord {
  const { spec: _, ...rest } = c;
  return rest;
}

/** `got` is `want` with the store's times added. */
function assertRecord(got: Container, want: ContainerRecord): void {
  const { createdAt: _c, updatedAt: _u, ...rest } = got;
  const expected = { ...want, labels: { ...want.labels } };
  assert.deepEqual(rest, expected);
}

async function rejectsWith(
  promise: Promise<unknown>,
  kind: ErrorKind,
  includes: readonly string[] = [],
  doc = '',
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.equal(kindOf(err), kind, `${doc} ${String(err)}`.trim());
    const message = err instanceof Error ? err.message : String(err);
    for (const text of includes) {
      assert.ok(message.includes(text), `${JSON.stringify(message)} names ${text}`);
    }
    return true;
  });
}
