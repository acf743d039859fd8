import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CliEnv } from '../helpers/cli-env.js';
import { type BuiltImage, buildImage, busyboxImage } from '../helpers/images.js';

const root = process.getuid?.() === 0;
const execFileP = promisify(execFile);

interface ImageInfo {
  Id: string;
  RepoTags: string[];
}

/**
 * `berth save` and `berth load` round-trip an image, and interoperate with
 * skopeo's docker-archive transport both ways (skopeo runs offline on
 * files: --insecure-policy, its own temp dir).
 */
describe('berth save and load', { skip: !root && 'needs root' }, () => {
  let env: CliEnv;
  let built: BuiltImage;
  let ref: string;
  let skopeoTmp: string;
  const skopeo = async (args: string[]) =>
    (
      await execFileP('skopeo', ['--insecure-policy', '--tmpdir', skopeoTmp, ...args], {
        encoding: 'buffer',
        maxBuffer: 256 * 1024 * 1024,
        env: { ...process.env, TMPDIR: skopeoTmp },
      })
    ).stdout;
  const inspect = async (name: string): Promise<ImageInfo> => {
    const [info] = JSON.parse(await env.cli.ok(['image', 'inspect', name])) as ImageInfo[];
    assert.ok(info, `image inspect ${name}`);
    return info;
  };

  before(async () => {
    env = await CliEnv.start();
    skopeoTmp = join(env.work.path, 'skopeo-tmp');
    mkdirSync(skopeoTmp);
    built = await buildImage(env.work, busyboxImage());
    ref = await env.image(busyboxImage(), 'berth/busybox:save');
  });
  after(async () => {
    await env?.cleanup();
  });

  it('berth save -o, berth rmi, berth load -i: the same image ID', async () => {
    const before = await inspect(ref);
    assert.equal(before.Id, built.config.digest, 'the image ID is the config digest');
    const tar = join(env.work.path, 'saved.tar');
    await env.cli.ok(['save', ref, '-o', tar]);
    assert.ok(existsSync(tar));
    const rmi = await env.cli.run(['rmi', ref]);
    assert.equal(rmi.code, 0, rmi.stderr);
    assert.match(rmi.stdout, /^Untagged: /m);
    assert.equal(await env.cli.ok(['images', '-q']), '');

    const load = await env.cli.run(['load', '-i', tar]);
    assert.equal(load.code, 0, load.stderr);
    assert.equal(load.stdout, `Loaded image: ${ref}\n`);
    const after = await inspect(ref);
    assert.equal(after.Id, before.Id);
    const out = await env.cli.ok(['run', '--rm', ref, 'echo', 'loaded']);
    assert.equal(out, 'loaded\n');
  });

  it('an archive skopeo writes (docker-archive:) loads', async () => {
    const tar = join(env.work.path, 'skopeo.tar');
    await skopeo([
      'copy',
      '--quiet',
      `oci:${built.layout}:${built.tag}`,
      `docker-archive:${tar}:berth/from-skopeo:v1`,
    ]);
    const load = await env.cli.run(['load', '-i', tar]);
    assert.equal(load.code, 0, load.stderr);
    assert.equal(load.stdout, 'Loaded image: berth/from-skopeo:v1\n');
    const info = await inspect('berth/from-skopeo:v1');
    assert.equal(info.Id, built.config.digest);
    assert.equal(await env.cli.ok(['run', '--rm', 'berth/from-skopeo:v1', 'echo', 'ok']), 'ok\n');
  });

  it('an archive berth save writes is read by skopeo (docker-archive:)', async () => {
    const tar = join(env.work.path, 'for-skopeo.tar');
    await env.cli.ok(['save', ref, '-o', tar]);
    const config = await skopeo(['inspect', '--raw', '--config', `docker-archive:${tar}`]);
    const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    assert.equal(digest, built.config.digest, 'skopeo reads the same config');
    // dir: keeps the manifest and blobs as read (oci: would rewrite the config).
    const dir = join(env.work.path, 'from-berth');
    await skopeo(['copy', '--quiet', `docker-archive:${tar}`, `dir:${dir}`]);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    assert.equal(manifest.config.digest, built.config.digest);
    // A docker-archive holds the layers uncompressed: their digests are the diff IDs.
    assert.deepEqual(
      manifest.layers.map((l) => l.digest),
      built.layers.map((l) => l.diffId),
    );
  });
});
