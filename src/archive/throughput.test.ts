/**
 * Throughput of the layer pass on a real ~450 MB layer (the Go toolchain and
 * /usr/include, as the `mid.tar` of the dependency notes), made with GNU tar
 * in a temporary directory. Slow (it gzips the layer first), so it runs only
 * with BERTH_ARCHIVE_BENCH=1:
 *
 *   BERTH_ARCHIVE_BENCH=1 node --import tsx --test src/archive/throughput.test.ts
 *
 * Figures are MiB/s of uncompressed tar, best of three rounds, reported as
 * test diagnostics next to `gzip -dc` and `zstd -dc` for scale.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { decompress } from './compression.js';
import { DigestStream } from './digest-stream.js';
import { MEDIA_TYPES } from './media-types.js';
import { readTar } from './tar/reader.js';

const MiB = 2 ** 20;
const SOURCES = ['usr/lib/go-1.19', 'usr/include'].filter((p) => existsSync(`/${p}`));
const skip = process.env.BERTH_ARCHIVE_BENCH !== '1' && 'set BERTH_ARCHIVE_BENCH=1 to run';

function sh(cmd: string): number {
  const start = performance.now();
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
  assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
  return (performance.now() - start) / 1000;
}

async function pass(mediaType: string, file: string, digests: boolean) {
  let entries = 0;
  const source = createReadStream(file, { highWaterMark: MiB });
  const blob = digests ? new DigestStream(source) : source;
  const tar = decompress(mediaType, blob);
  const diff = digests ? new DigestStream(tar) : tar;
  for await (const { body } of readTar(diff)) {
    entries++;
    for await (const _ of body);
  }
  if (blob instanceof DigestStream && diff instanceof DigestStream) {
    assert.match(blob.digest, /^sha256:/);
    assert.match(diff.digest, /^sha256:/);
  }
  return entries;
}

describe('archive throughput', { skip }, () => {
  let tmp: TempDir;
  let tar: string;
  let size: number;

  before(() => {
    tmp = tempDir();
    tar = join(tmp.path, 'mid.tar');
    sh(`tar --format=pax -C / -cf ${tar} ${SOURCES.join(' ')}`);
    sh(`gzip -6 -c ${tar} > ${tar}.gz`);
    sh(`zstd -3 -q -c ${tar} > ${tar}.zst`);
    size = statSync(tar).size;
  });
  after(() => tmp?.remove());

  it('parses, gunzips and unzstds a ~450 MB layer', { timeout: 900_000 }, async (t) => {
    const rate = (seconds: number) => `${(size / MiB / seconds).toFixed(0)} MiB/s`;
    t.diagnostic(
      `layer: ${(size / 1e6).toFixed(0)} MB tar, gzip -6 ${(statSync(`${tar}.gz`).size / 1e6).toFixed(0)} MB, zstd -3 ${(statSync(`${tar}.zst`).size / 1e6).toFixed(0)} MB`,
    );
    const cases: ReadonlyArray<[string, string, string, boolean]> = [
      ['tar parse only', MEDIA_TYPES.ociLayer, tar, false],
      ['gunzip + tar parse', MEDIA_TYPES.ociLayerGzip, `${tar}.gz`, false],
      ['gunzip + tar parse + both sha256', MEDIA_TYPES.ociLayerGzip, `${tar}.gz`, true],
      ['zstd -dc + tar parse', MEDIA_TYPES.ociLayerZstd, `${tar}.zst`, false],
    ];
    for (const [what, mediaType, file, digests] of cases) {
      let best = Infinity;
      let entries = 0;
      for (let round = 0; round < 3; round++) {
        const start = performance.now();
        entries = await pass(mediaType, file, digests);
        best = Math.min(best, (performance.now() - start) / 1000);
      }
      t.diagnostic(`${what}: ${rate(best)} (${entries} entries, ${best.toFixed(2)} s)`);
    }
    t.diagnostic(`for scale, gzip -dc: ${rate(sh(`gzip -dc ${tar}.gz > /dev/null`))}`);
    t.diagnostic(`for scale, zstd -dc: ${rate(sh(`zstd -dc -q ${tar}.zst > /dev/null`))}`);
  });
});
