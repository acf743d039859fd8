import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument, isNotImplemented } from '../../core/errdefs/index.js';
import { withImageConfig, withImageConfigArgs } from './image-config.js';
import { generateSpec } from './spec.js';
import { withEnv } from './spec-opts.js';
import { MemoryContent } from './testing/images.js';
import type { ImageConfig, Spec } from './types.js';

async function imageWith(config: ImageConfig, files = true) {
  const content = new MemoryContent();
  const layer = await content.layer(
    files
      ? [
          { type: 'dir', path: 'etc' },
          {
            type: 'file',
            path: 'etc/passwd',
            content: 'root:x:0:0::/:/bin/sh\napp:x:10:20::/:/bin/sh\n',
          },
          {
            type: 'file',
            path: 'etc/group',
            content: 'root:x:0:\nwheel:x:4:root,app\nadm:x:5:app\n',
          },
        ]
      : [{ type: 'dir', path: 'bin' }],
  );
  const image = content.image('img', config, [layer]);
  return { content, image, client: content.client('ns'), container: { id: 'c', image: 'img' } };
}

describe('withImageConfig', () => {
  it('takes env, entrypoint and cmd, working dir and user from the image', async () => {
    const { image, client, container } = await imageWith({
      Env: ['PATH=/bin', 'A=1'],
      Entrypoint: ['/entry'],
      Cmd: ['--flag'],
      WorkingDir: '/work',
      User: 'app',
    });
    const spec = await generateSpec(
      client,
      container,
      withEnv(['A=2', 'B=3']),
      withImageConfig(image),
    );
    assert.deepEqual(spec.process?.env, ['PATH=/bin', 'A=2', 'B=3']);
    assert.deepEqual(spec.process?.args, ['/entry', '--flag']);
    assert.equal(spec.process?.cwd, '/work');
    // app's groups: wheel and adm; by uid, as containerd looks them up after USER
    assert.deepEqual(spec.process?.user, { uid: 10, gid: 20, additionalGids: [20, 4, 5] });
  });

  it("defaults: PATH, cwd /, root with root's additional groups", async () => {
    const { image, client, container } = await imageWith({});
    const spec = await generateSpec(client, container, withImageConfig(image));
    assert.deepEqual(spec.process?.env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ]);
    assert.equal(spec.process?.args, undefined);
    assert.equal(spec.process?.cwd, '/');
    assert.deepEqual(spec.process?.user, { uid: 0, gid: 0, additionalGids: [0, 4] });
  });

  it('no /etc in the image: root with gid 0 only', async () => {
    const { image, client, container } = await imageWith({ Cmd: ['sh'] }, false);
    const spec = await generateSpec(client, container, withImageConfig(image));
    assert.deepEqual(spec.process?.user, { uid: 0, gid: 0, additionalGids: [0] });
  });

  it('withImageConfigArgs replaces Cmd, keeps Entrypoint', async () => {
    const { image, client, container } = await imageWith({ Entrypoint: ['/e'], Cmd: ['a'] });
    const spec = await generateSpec(client, container, withImageConfigArgs(image, ['b', 'c']));
    assert.deepEqual(spec.process?.args, ['/e', 'b', 'c']);
  });

  it("reads the image it is given, not the container's", async () => {
    const { image, client } = await imageWith({ User: 'app' });
    const spec = await generateSpec(client, { id: 'c', image: 'other' }, withImageConfig(image));
    assert.equal(spec.process?.user.uid, 10);
  });

  it('refuses other config media types and malformed configs', async () => {
    const { content, client, container } = await imageWith({});
    const layer = await content.layer([]);
    const wrongType = content.add('application/json', Buffer.from('{}'));
    const odd = { name: 'odd', manifest: async () => ({ config: wrongType, layers: [layer] }) };
    await assert.rejects(
      generateSpec(client, container, withImageConfig(odd)),
      (err: Error) =>
        isInvalidArgument(err) &&
        /unknown image config media type application\/json/.test(err.message),
    );
    for (const body of ['not json', '[1]', '{"config":{"Env":"A=1"}}', '{"config":{"User":7}}']) {
      const desc = content.add('application/vnd.oci.image.config.v1+json', Buffer.from(body));
      const bad = { name: 'bad', manifest: async () => ({ config: desc, layers: [layer] }) };
      await assert.rejects(
        generateSpec(client, container, withImageConfig(bad)),
        isInvalidArgument,
        body,
      );
    }
  });

  it('needs a Linux section', async () => {
    const { image, client, container } = await imageWith({});
    const windows: Spec = { ociVersion: '1.1.0', windows: {} };
    await assert.rejects(
      Promise.resolve(withImageConfig(image)(client, container, windows)),
      isNotImplemented,
    );
    const none: Spec = { ociVersion: '1.1.0' };
    await assert.rejects(
      Promise.resolve(withImageConfig(image)(client, container, none)),
      isInvalidArgument,
    );
  });
});
