import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CreateOptions, RuncOptions } from '../../api/containerd/linux/runc/runc.js';
import { Options } from '../../api/containerd/runc/options/oci.js';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { fromV1Options, RUNTIME_LINUX_V1, shimRuntime } from './runtime-v1.js';

const runc = (o: Partial<RuncOptions>) => ({
  typeUrl: 'containerd.linux.runc.RuncOptions',
  value: RuncOptions.encode(RuncOptions.fromPartial(o)).finish(),
});
const create = (o: Partial<CreateOptions>) => ({
  typeUrl: 'containerd.linux.runc.CreateOptions',
  value: CreateOptions.encode(CreateOptions.fromPartial(o)).finish(),
});

describe('io.containerd.runtime.v1.linux on the runc v2 shim', () => {
  it('runs on the runc v2 shim; other runtimes keep their own', () => {
    assert.equal(shimRuntime(RUNTIME_LINUX_V1), 'io.containerd.runc.v2');
    assert.equal(shimRuntime('io.containerd.runc.v1'), 'io.containerd.runc.v1');
    assert.equal(shimRuntime('io.containerd.kata.v2'), 'io.containerd.kata.v2');
  });

  it('merges RuncOptions and CreateOptions into the runc shim Options', () => {
    const any = fromV1Options(
      runc({
        runtime: 'no-runc',
        runtimeRoot: '/run/other-runc',
        criuPath: '/opt/criu',
        systemdCgroup: true,
      }),
      create({
        noPivotRoot: true,
        noNewKeyring: true,
        shimCgroup: '/shims',
        ioUid: 1000,
        ioGid: 1001,
        criuWorkPath: '/w',
        criuImagePath: '/i',
        // Restore-only fields: no place in Options.
        openTcp: true,
        emptyNamespaces: ['network'],
      }),
    );
    assert.equal(any.typeUrl, 'containerd.runc.v1.Options');
    assert.deepEqual(
      Options.decode(any.value),
      Options.fromPartial({
        binaryName: 'no-runc',
        root: '/run/other-runc',
        criuPath: '/opt/criu',
        systemdCgroup: true,
        noPivotRoot: true,
        noNewKeyring: true,
        shimCgroup: '/shims',
        ioUid: 1000,
        ioGid: 1001,
        criuWorkPath: '/w',
        criuImagePath: '/i',
      }),
    );
  });

  it('gives empty Options when there are none (the daemon then sets its runc root)', () => {
    const any = fromV1Options(undefined, undefined);
    assert.deepEqual(Options.decode(any.value), Options.fromPartial({}));
    const onlyTask = fromV1Options(undefined, create({ noPivotRoot: true }));
    assert.deepEqual(Options.decode(onlyTask.value), Options.fromPartial({ noPivotRoot: true }));
  });

  it('accepts a type URL with a prefix', () => {
    const any = fromV1Options(
      {
        ...runc({ runtime: 'crun' }),
        typeUrl: 'type.googleapis.com/containerd.linux.runc.RuncOptions',
      },
      undefined,
    );
    assert.equal(Options.decode(any.value).binaryName, 'crun');
  });

  it('refuses options of another type, naming it', () => {
    const v2 = {
      typeUrl: 'containerd.runc.v1.Options',
      value: Options.encode(Options.fromPartial({ binaryName: 'x' })).finish(),
    };
    assert.throws(
      () => fromV1Options(v2, undefined),
      (err: Error) =>
        isInvalidArgument(err) &&
        err.message.includes('containerd.runc.v1.Options') &&
        err.message.includes('containerd.linux.runc.RuncOptions'),
    );
    assert.throws(() => fromV1Options(undefined, v2), isInvalidArgument);
  });

  it('refuses options whose bytes do not decode', () => {
    assert.throws(
      () =>
        fromV1Options(
          { typeUrl: 'containerd.linux.runc.RuncOptions', value: Buffer.from([0x0a, 0xff]) },
          undefined,
        ),
      isInvalidArgument,
    );
  });
});
