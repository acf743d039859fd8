import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImageStore } from '../api/containerd/types/transfer/imagestore.js';
import { isInvalidArgument, isNotImplemented } from '../core/errdefs/index.js';
import type { StreamMessage, TransferEndpoint } from '../core/transfer/index.js';
import {
  endpointFromAny,
  endpointToAny,
  streamInitFromAny,
  streamInitToAny,
  streamMessageFromAny,
  streamMessageToAny,
  TYPE,
} from './transfer.js';

describe('wire/transfer', () => {
  it('round-trips every stream message, with bare type URLs as containerd writes them', () => {
    const msgs: StreamMessage[] = [
      { kind: 'data', data: Buffer.from('abc') },
      { kind: 'windowUpdate', update: 65536 },
      {
        kind: 'progress',
        progress: {
          event: 'downloading',
          name: 'layer-sha256:x',
          parents: ['manifest-sha256:y'],
          progress: 5,
          total: 9,
        },
      },
      {
        kind: 'authRequest',
        host: 'h:5000',
        reference: 'h:5000/a:b',
        wwwAuthenticate: ['Basic realm="x"'],
      },
      {
        kind: 'authResponse',
        authType: 'credentials',
        secret: 'p',
        username: 'u',
        expireAt: 1_700_000_000_123_456_789n,
      },
      { kind: 'authResponse', authType: 'refresh', secret: 't', username: '' },
    ];
    for (const m of msgs) {
      const a = streamMessageToAny(m);
      assert.ok(a.typeUrl.startsWith('containerd.types.transfer.'), a.typeUrl);
      const back = streamMessageFromAny(a);
      if (m.kind === 'data' && back.kind === 'data')
        assert.ok(Buffer.from(back.data).equals(Buffer.from(m.data)));
      else assert.deepEqual(back, m);
    }
  });

  it('accepts type.googleapis.com/ URLs and reports unknown types as other', () => {
    const a = streamMessageToAny({ kind: 'windowUpdate', update: 7 });
    assert.deepEqual(
      streamMessageFromAny({ ...a, typeUrl: `type.googleapis.com/${TYPE.windowUpdate}` }),
      {
        kind: 'windowUpdate',
        update: 7,
      },
    );
    assert.deepEqual(streamMessageFromAny({ typeUrl: 'x.Y', value: Buffer.alloc(0) }), {
      kind: 'other',
      typeUrl: 'x.Y',
    });
  });

  it('reads StreamInit, and refuses another first message or an empty id', () => {
    assert.equal(streamInitFromAny(streamInitToAny('progress-1')), 'progress-1');
    assert.throws(
      () => streamInitFromAny(streamMessageToAny({ kind: 'windowUpdate', update: 1 })),
      isInvalidArgument,
    );
    assert.throws(() => streamInitFromAny(streamInitToAny('')), isInvalidArgument);
  });

  it('round-trips endpoints; platforms as os/arch[/variant]; unknown types not implemented', () => {
    const eps: TransferEndpoint[] = [
      {
        kind: 'registry',
        reference: 'r.test/a:b',
        authStream: 'creds-1',
        headers: { 'User-Agent': 'x' },
        hostDir: '/etc/containerd/certs.d',
        defaultScheme: 'http',
      },
      {
        kind: 'imageStore',
        name: 'r.test/a:b',
        labels: { k: 'v' },
        platforms: ['linux/amd64', 'linux/arm/v7'],
        allMetadata: true,
        manifestLimit: 2,
        extraReferences: [
          {
            name: 'p',
            isPrefix: true,
            allowOverwrite: true,
            addDigest: true,
            skipNamedDigest: false,
          },
        ],
        unpacks: [
          { platform: 'linux/amd64', snapshotter: 'overlayfs' },
          { platform: '', snapshotter: 'native' },
        ],
      },
      {
        kind: 'importStream',
        stream: 'import-1',
        mediaType: 'application/x-tar',
        forceCompress: true,
      },
      {
        kind: 'exportStream',
        stream: 'export-1',
        mediaType: '',
        platforms: ['linux/arm64/v8'],
        allPlatforms: false,
        skipCompatibilityManifest: true,
        skipNonDistributable: true,
      },
    ];
    for (const e of eps) assert.deepEqual(endpointFromAny(endpointToAny(e), 'source'), e);
    const raw = ImageStore.decode(endpointToAny(eps[1] as TransferEndpoint).value);
    assert.deepEqual(raw.platforms[1], {
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
      osVersion: '',
    });
    assert.throws(
      () => endpointFromAny({ typeUrl: 'google.protobuf.Empty', value: Buffer.alloc(0) }, 'source'),
      (err: Error) => isNotImplemented(err) && err.message.includes('google.protobuf.Empty'),
    );
    assert.throws(() => endpointFromAny(undefined, 'destination'), isInvalidArgument);
  });
});
