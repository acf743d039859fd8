import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateSpec } from '../../client/oci/spec.js';
import { MemoryContent } from '../../client/oci/testing/images.js';
import type { ImageConfig, Spec, SpecOpt } from '../../client/oci/types.js';
import { parseArgs } from '../args.js';
import { CliError } from '../errors.js';
import { CREATE_FLAGS, createOptions } from './options.js';
import { containerSpecOpts, processArgs } from './spec.js';

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The spec `berth create <argv>` makes for an image with `config`. */
async function specOf(argv: string[], config: ImageConfig, network: SpecOpt[] = []): Promise<Spec> {
  const content = new MemoryContent();
  const layer = await content.layer([
    { type: 'dir', path: 'etc' },
    {
      type: 'file',
      path: 'etc/passwd',
      content: 'root:x:0:0::/:/bin/sh\napp:x:10:20::/:/bin/sh\n',
    },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\napp:x:20:\nwheel:x:4:app\n' },
  ]);
  const image = content.image('img', config, [layer]);
  const { flags, args } = parseArgs(argv, CREATE_FLAGS, true);
  const opts = createOptions(flags, args, {}, '/home/u');
  return generateSpec(
    content.client('ns'),
    { id: 'c1', image: 'img' },
    ...containerSpecOpts(image, config, opts, network),
  );
}

describe('the spec of run/create flags', () => {
  it("is the image's process without flags", async () => {
    const spec = await specOf(['img'], {
      Entrypoint: ['/entry'],
      Cmd: ['a'],
      Env: [PATH, 'X=1'],
      WorkingDir: '/w',
    });
    assert.deepEqual(spec.process?.args, ['/entry', 'a']);
    assert.deepEqual(spec.process?.env, [PATH, 'X=1']);
    assert.equal(spec.process?.cwd, '/w');
    assert.equal(spec.process?.terminal, undefined);
    assert.equal(spec.root?.readonly, undefined);
    assert.equal(spec.linux?.resources?.cpu, undefined);
  });

  it('sets the process: command, env, cwd, user, terminal', async () => {
    const spec = await specOf(
      ['-t', '-e', 'X=2', '-e', 'Y=3', '-w', '/srv', '-u', 'app', 'img', 'sh', '-c', 'id'],
      { Entrypoint: ['/entry'], Cmd: ['a'], Env: [PATH, 'X=1'] },
    );
    assert.deepEqual(spec.process?.args, ['/entry', 'sh', '-c', 'id']);
    assert.deepEqual(spec.process?.env, [PATH, 'X=2', 'Y=3', 'TERM=xterm']);
    assert.equal(spec.process?.cwd, '/srv');
    assert.equal(spec.process?.terminal, true);
    assert.equal(spec.process?.user.uid, 10);
    assert.equal(spec.process?.user.gid, 20);
    assert.deepEqual(spec.process?.user.additionalGids, [20, 4]);
  });

  it('binds -v mounts, limits cpus and memory, makes the root read-only', async () => {
    const spec = await specOf(
      ['-v', './d:/data:ro', '--cpus', '0.5', '-m', '64m', '--read-only', 'img'],
      {
        Cmd: ['sh'],
      },
    );
    assert.deepEqual(spec.mounts?.at(-1), {
      destination: '/data',
      type: 'bind',
      source: '/home/u/d',
      options: ['rbind', 'rprivate', 'ro'],
    });
    assert.deepEqual(spec.linux?.resources?.cpu, { quota: 50_000, period: 100_000 });
    assert.equal(spec.linux?.resources?.memory?.limit, 64 * 1024 * 1024);
    assert.equal(spec.root?.readonly, true);
  });

  it('unmasks everything with --privileged', async () => {
    const plain = await specOf(['img'], { Cmd: ['sh'] });
    assert.ok((plain.linux?.maskedPaths ?? []).length > 0);
    const spec = await specOf(['--privileged', 'img'], { Cmd: ['sh'] });
    assert.deepEqual(spec.linux?.maskedPaths ?? [], []);
    assert.deepEqual(spec.linux?.readonlyPaths ?? [], []);
    assert.equal(spec.linux?.seccomp, undefined);
    assert.deepEqual(spec.linux?.resources?.devices, [{ allow: true, access: 'rwm' }]);
  });

  it('applies the network options last', async () => {
    const spec = await specOf(['-e', 'A=1', 'img'], { Cmd: ['sh'] }, [
      (_c, _ct, s) => {
        s.hostname = `net-${s.process?.env?.join(',')}`;
      },
    ]);
    assert.equal(spec.hostname, `net-${PATH},A=1`);
  });
});

describe("the container's command", () => {
  it("follows docker's ENTRYPOINT/CMD rules", () => {
    const cfg = { Entrypoint: ['/e', '-x'], Cmd: ['c'] };
    assert.deepEqual(processArgs(cfg, { command: [] }), ['/e', '-x', 'c']);
    assert.deepEqual(processArgs(cfg, { command: ['d'] }), ['/e', '-x', 'd']);
    assert.deepEqual(processArgs(cfg, { entrypoint: '/f', command: [] }), ['/f']);
    assert.deepEqual(processArgs(cfg, { entrypoint: '/f', command: ['g'] }), ['/f', 'g']);
    assert.deepEqual(processArgs(cfg, { entrypoint: '', command: ['ls'] }), ['ls']);
    assert.throws(
      () => processArgs(cfg, { entrypoint: '', command: [] }),
      (err: unknown) => err instanceof CliError && err.message === 'No command specified',
    );
    assert.throws(() => processArgs({}, { command: [] }), /No command specified/);
  });
});
