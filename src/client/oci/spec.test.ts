import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers/tmp.js';
import type { ContainerRecord } from '../../core/containers/index.js';
import { isFailedPrecondition, isInvalidArgument } from '../../core/errdefs/index.js';
import {
  applyOpts,
  cgroupsPathOf,
  compose,
  defaultUnixSpec,
  generateSpec,
  specClientFor,
  specClientWithoutContent,
  withDefaultSpec,
  withSpecFromBytes,
  withSpecFromFile,
} from './spec.js';
import { withHostname, withProcessArgs } from './spec-opts.js';
import type { SpecOpt } from './types.js';

const client = specClientWithoutContent('ns1');

describe('the default spec', () => {
  it("is containerd 1.7.13's populateDefaultUnixSpec", async () => {
    const spec = await generateSpec(client, { id: 'c1' });
    assert.equal(spec.ociVersion, '1.1.0');
    assert.deepEqual(spec.root, { path: 'rootfs' });
    assert.deepEqual(spec.process?.user, { uid: 0, gid: 0 });
    assert.equal(spec.process?.cwd, '/');
    assert.equal(spec.process?.noNewPrivileges, true);
    assert.equal(spec.process?.args, undefined);
    assert.equal(spec.process?.env, undefined);
    assert.deepEqual(spec.process?.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
    const caps = spec.process?.capabilities;
    assert.equal(caps?.bounding?.length, 14);
    assert.deepEqual(caps?.effective, caps?.bounding);
    assert.deepEqual(caps?.permitted, caps?.bounding);
    assert.equal(caps?.inheritable, undefined);
    assert.deepEqual(
      spec.mounts?.map((m) => m.destination),
      ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/run'],
    );
    assert.deepEqual(
      spec.linux?.namespaces?.map((n) => n.type),
      ['pid', 'ipc', 'uts', 'mount', 'network'],
    );
    assert.deepEqual(spec.linux?.resources, { devices: [{ allow: false, access: 'rwm' }] });
    assert.equal(spec.linux?.cgroupsPath, '/ns1/c1');
    assert.equal(spec.linux?.maskedPaths?.length, 11);
    assert.ok(spec.linux?.maskedPaths?.includes('/sys/devices/virtual/powercap'));
    assert.equal(spec.linux?.readonlyPaths?.length, 5);
    assert.equal(spec.hostname, undefined);
  });

  it('gives every call its own lists', () => {
    const a = defaultUnixSpec('ns', 'a');
    const b = defaultUnixSpec('ns', 'b');
    a.process?.capabilities?.bounding?.push('CAP_SYS_ADMIN');
    a.mounts?.[0]?.options?.push('ro');
    assert.equal(b.process?.capabilities?.bounding?.length, 14);
    assert.deepEqual(b.mounts?.[0]?.options, ['nosuid', 'noexec', 'nodev']);
  });

  it('needs a namespace', () => {
    assert.throws(() => defaultUnixSpec('', 'c'), isFailedPrecondition);
  });

  it('joins the cgroups path as Go filepath.Join', () => {
    assert.equal(cgroupsPathOf('ns', 'id'), '/ns/id');
    assert.equal(cgroupsPathOf('a', '../b'), '/b');
    assert.equal(cgroupsPathOf('ns', ''), '/ns');
  });
});

describe('applying options', () => {
  it('runs them in order, awaiting each', async () => {
    const order: string[] = [];
    const slow: SpecOpt = async () => {
      await new Promise((r) => setTimeout(r, 5));
      order.push('slow');
    };
    const fast: SpecOpt = () => {
      order.push('fast');
    };
    await generateSpec(client, { id: 'c' }, slow, fast, compose(fast, slow));
    assert.deepEqual(order, ['slow', 'fast', 'fast', 'slow']);
  });

  it('stops at the first error', async () => {
    const boom: SpecOpt = () => {
      throw new Error('boom');
    };
    let after = false;
    await assert.rejects(
      generateSpec(client, { id: 'c' }, boom, () => {
        after = true;
      }),
      /boom/,
    );
    assert.equal(after, false);
  });

  it('stops when the client signal aborts', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      generateSpec({ ...client, signal: ac.signal }, { id: 'c' }, withHostname('x')),
      { name: 'AbortError' },
    );
  });

  it('withSpecFromBytes and withSpecFromFile replace the spec', async () => {
    const other = { ociVersion: '1.0.2', process: { user: { uid: 7, gid: 7 }, cwd: '/x' } };
    const spec = await generateSpec(client, { id: 'c' }, withSpecFromBytes(JSON.stringify(other)));
    assert.deepEqual(spec, other);
    const dir = tempDir();
    try {
      const file = join(dir.path, 'config.json');
      writeFileSync(file, JSON.stringify(other));
      assert.deepEqual(await generateSpec(client, { id: 'c' }, withSpecFromFile(file)), other);
      await assert.rejects(
        generateSpec(client, { id: 'c' }, withSpecFromFile(join(dir.path, 'nope'))),
        isInvalidArgument,
      );
    } finally {
      dir.remove();
    }
    for (const bad of ['{', '[]', 'null']) {
      await assert.rejects(
        generateSpec(client, { id: 'c' }, withSpecFromBytes(bad)),
        isInvalidArgument,
      );
    }
  });

  it('withDefaultSpec starts over', async () => {
    const spec = await generateSpec(client, { id: 'c' }, withHostname('h'), withProcessArgs('x'));
    await applyOpts(client, { id: 'c' }, spec, withDefaultSpec());
    assert.deepEqual(spec, defaultUnixSpec('ns1', 'c'));
  });

  it('specClientFor reads through a content provider with the context', async () => {
    const ac = new AbortController();
    const seen: { namespace?: string; signal: AbortSignal; digest: string }[] = [];
    const provider = {
      async *read(ctx: { namespace?: string; signal: AbortSignal }, digest: string) {
        seen.push({
          ...(ctx.namespace ? { namespace: ctx.namespace } : {}),
          signal: ctx.signal,
          digest,
        });
        yield Buffer.from('x');
      },
      info: () => Promise.reject(new Error('unused')),
    };
    const ctx = { namespace: 'ns9', signal: ac.signal, log: console as never };
    const sc = specClientFor(ctx, provider as never, () => Promise.reject(new Error('no images')));
    assert.equal(sc.namespace, 'ns9');
    assert.equal(sc.signal, ac.signal);
    const desc = { mediaType: 'x', digest: 'sha256:ab', size: 1 };
    for await (const _ of sc.readBlob(desc)) {
      /* drain */
    }
    const other = new AbortController();
    for await (const _ of sc.readBlob(desc, { signal: other.signal })) {
      /* drain */
    }
    assert.deepEqual(
      seen.map((s) => [s.namespace, s.signal === ac.signal, s.signal === other.signal, s.digest]),
      [
        ['ns9', true, false, 'sha256:ab'],
        ['ns9', false, true, 'sha256:ab'],
      ],
    );
    assert.throws(
      () =>
        specClientFor({ signal: ac.signal, log: console as never }, provider as never, sc.getImage),
      isFailedPrecondition,
    );
  });

  it('takes a container record as it is (what the client builds in newContainer)', async () => {
    const record: ContainerRecord = {
      id: 'rec',
      labels: {},
      image: '',
      runtime: { name: 'io.containerd.runc.v2' },
      snapshotter: '',
      snapshotKey: '',
      sandbox: '',
      extensions: {},
    };
    const spec = await generateSpec(client, record);
    assert.equal(spec.linux?.cgroupsPath, '/ns1/rec');
  });

  it('the content-less client refuses reads', async () => {
    await assert.rejects(client.getImage('x'), isInvalidArgument);
    assert.throws(
      () => client.readBlob({ mediaType: 'x', digest: 'sha256:00', size: 0 }),
      isInvalidArgument,
    );
  });
});
