// The generated code encodes and decodes: int64 as exact bigint, Timestamp
// with nanoseconds, maps, enums, Any payloads, and grpc-js service paths.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Container,
  ContainersService,
} from '../../src/api/containerd/services/containers/v1/containers.js';
import {
  WriteAction,
  WriteContentRequest,
  WriteContentResponse,
} from '../../src/api/containerd/services/content/v1/content.js';
import { Descriptor } from '../../src/api/containerd/types/descriptor.js';
import {
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
} from '../../src/api/grpc/health/v1/health.js';

test('int64 bigint and Timestamp survive encode/decode', () => {
  const big = 9007199254740993n; // 2^53 + 1: not representable as a double
  const msg = WriteContentResponse.fromPartial({
    action: WriteAction.COMMIT,
    startedAt: { seconds: 1700000000n, nanos: 123456789 },
    updatedAt: { seconds: -1n, nanos: 999999999 },
    offset: big,
    total: -5n,
    digest: 'sha256:0123',
  });
  const bytes = WriteContentResponse.encode(msg).finish();
  const back = WriteContentResponse.decode(bytes);
  assert.deepEqual(back, msg);
  assert.equal(back.offset, big);
  assert.equal(back.startedAt?.nanos, 123456789);
  assert.equal(back.startedAt?.seconds, 1700000000n);

  // proto3 JSON mapping: int64 as a string.
  const json = WriteContentResponse.toJSON(back) as Record<string, unknown>;
  assert.equal(json.offset, '9007199254740993');
  assert.equal(json.action, 'COMMIT');
});

test('known bytes decode: Descriptor with map annotations', () => {
  const desc = Descriptor.fromPartial({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: 'sha256:abc',
    size: 4096n,
    annotations: { 'org.opencontainers.image.ref.name': 'latest' },
  });
  const bytes = Descriptor.encode(desc).finish();
  // field 3 (size) is varint 4096 = 0x80 0x20 after tag 0x18.
  assert.ok(Buffer.from(bytes).includes(Buffer.from([0x18, 0x80, 0x20])));
  assert.deepEqual(Descriptor.decode(bytes), desc);
});

test('bytes, maps and Any round-trip in a write request', () => {
  const req = WriteContentRequest.fromPartial({
    action: WriteAction.WRITE,
    ref: 'layer-sha256:abc',
    offset: 1n << 40n,
    data: Buffer.from([0, 1, 2, 255]),
    labels: { 'containerd.io/gc.root': 'x' },
  });
  const got = WriteContentRequest.decode(WriteContentRequest.encode(req).finish());
  // Compare the bytes on their own: decode returns a Buffer view of the input.
  assert.deepEqual(Array.from(got.data), [0, 1, 2, 255]);
  assert.deepEqual({ ...got, data: undefined }, { ...req, data: undefined });

  const spec = Buffer.from(JSON.stringify({ ociVersion: '1.1.0' }));
  const c = Container.fromPartial({
    id: 'c1',
    spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: spec },
    createdAt: { seconds: 1n, nanos: 1 },
  });
  const back = Container.decode(Container.encode(c).finish());
  assert.equal(back.spec?.typeUrl, 'types.containerd.io/opencontainers/runtime-spec/1/Spec');
  assert.deepEqual(Buffer.from(back.spec?.value ?? []), spec);
});

test('grpc-js service definitions carry containerd paths and streaming flags', () => {
  assert.equal(
    ContainersService.listStream.path,
    '/containerd.services.containers.v1.Containers/ListStream',
  );
  assert.equal(ContainersService.listStream.responseStream, true);
  assert.equal(ContainersService.get.responseStream, false);
  const h = HealthCheckResponse.fromPartial({ status: HealthCheckResponse_ServingStatus.SERVING });
  assert.deepEqual(Array.from(HealthCheckResponse.encode(h).finish()), [0x08, 0x01]);
});
