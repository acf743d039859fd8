import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nullLogger } from '../core/log/index.js';
import type { StreamMessage, TransferStream } from '../core/transfer/index.js';
import { ProgressSender, refKey } from './progress.js';

/** A stream that records what is sent; `stall` makes every send wait forever. */
function fakeStream(stall = false) {
  const sent: StreamMessage[] = [];
  const ctl = new AbortController();
  let sends = 0;
  const stream: TransferStream = {
    id: 'progress-test',
    ended: ctl.signal,
    send(m) {
      sends++;
      if (stall) return new Promise(() => {});
      sent.push(m);
      return Promise.resolve();
    },
    recv: () => new Promise(() => {}),
    close: () => ctl.abort(),
  };
  return { stream, sent, ended: ctl.signal, sends: () => sends };
}

const MANIFEST = {
  mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  digest: 'sha256:m',
  size: 9,
};
const LAYER = {
  mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  digest: 'sha256:l',
  size: 100,
};

describe('ProgressSender', () => {
  it("names blobs by containerd's ref keys under their parents and maps the images' events to ctr's", async () => {
    const f = fakeStream();
    const p = new ProgressSender(f.stream, nullLogger);
    const fwd = p.forward('r.test/a:1');
    p.status('Pulling from OCI Registry (r.test/a:1)');
    fwd({ event: 'resolved', name: 'r.test/a:1', progress: 0, total: 0, desc: MANIFEST });
    fwd({ event: 'Importing', name: '', progress: 0, total: 0 });
    fwd({ event: 'exists', name: MANIFEST.digest, progress: 9, total: 9, desc: MANIFEST });
    fwd({
      event: 'downloading',
      name: LAYER.digest,
      parents: [MANIFEST.digest],
      progress: 1,
      total: 100,
      desc: LAYER,
    });
    fwd({
      event: 'downloading',
      name: LAYER.digest,
      parents: [MANIFEST.digest],
      progress: 50,
      total: 100,
      desc: LAYER,
    });
    fwd({
      event: 'downloaded',
      name: LAYER.digest,
      parents: [MANIFEST.digest],
      progress: 100,
      total: 100,
      desc: LAYER,
    });
    await p.close();
    const got = f.sent.map((m) => (m.kind === 'progress' ? m.progress : undefined));
    assert.deepEqual(got, [
      {
        event: 'Pulling from OCI Registry (r.test/a:1)',
        name: '',
        parents: [],
        progress: 0,
        total: 0,
      },
      {
        event: 'already exists',
        name: 'manifest-sha256:m',
        parents: ['r.test/a:1'],
        progress: 9,
        total: 9,
      },
      {
        event: 'downloading',
        name: 'layer-sha256:l',
        parents: ['manifest-sha256:m'],
        progress: 1,
        total: 100,
      },
      // The byte count of 50 was superseded by the change of state before its turn came.
      {
        event: 'complete',
        name: 'layer-sha256:l',
        parents: ['manifest-sha256:m'],
        progress: 100,
        total: 100,
      },
    ]);
    assert.ok(f.ended.aborted, 'close ends the stream');
  });

  it("hangs a push's blobs under the image it pushes, not under the destination", async () => {
    const f = fakeStream();
    const p = new ProgressSender(f.stream, nullLogger);
    const fwd = p.forward('local/image:1', 'r.test/dest:1');
    fwd({ event: 'pushing content', name: 'r.test/dest:1', progress: 0, total: 0, desc: MANIFEST });
    fwd({
      event: 'uploading',
      name: 'layer-sha256:l',
      parents: ['r.test/dest:1'],
      progress: 5,
      total: 100,
      desc: LAYER,
    });
    await p.close();
    const got = f.sent.map((m) =>
      m.kind === 'progress' ? `${m.progress.event} ${m.progress.name} ${m.progress.parents}` : '',
    );
    assert.deepEqual(got, ['uploading layer-sha256:l local/image:1']);
  });

  it('refKey: the kinds containerd names', () => {
    assert.equal(
      refKey({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: 'sha256:i', size: 1 }),
      'index-sha256:i',
    );
    assert.equal(
      refKey({
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: 'sha256:c',
        size: 1,
      }),
      'config-sha256:c',
    );
    assert.equal(
      refKey({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
        digest: 'sha256:z',
        size: 1,
      }),
      'layer-sha256:z',
    );
    assert.equal(
      refKey({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: 'sha256:m',
        size: 1,
        annotations: { 'org.opencontainers.image.ref.name': 'v1' },
      }),
      'manifest-v1@sha256:m',
    );
    assert.equal(
      refKey({ mediaType: 'text/plain', digest: 'sha256:t', size: 1 }),
      'unknown-sha256:t',
    );
  });

  it('a client that never reads its progress neither grows the queue without bound nor holds the transfer', async () => {
    const f = fakeStream(true);
    const p = new ProgressSender(f.stream, nullLogger, 50);
    for (let i = 0; i < 5000; i++) p.event(`e${i}`, `n${i}`);
    const t0 = Date.now();
    await p.close();
    assert.ok(Date.now() - t0 < 2_000, 'close gives up after its wait');
    assert.ok(f.sends() <= 1, 'the first send never settled, nothing else went out');
    assert.ok(f.ended.aborted);
  });
});
