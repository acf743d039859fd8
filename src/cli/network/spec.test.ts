import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import type { Spec, SpecClient } from '../../client/oci/types.js';
import { Labels } from '../labels.js';
import { hookArgs } from './flags.js';
import { type NetworkSpecOptions, networkSpec } from './spec.js';

const client = { namespace: 'default' } as unknown as SpecClient;

function baseSpec(): Spec {
  return {
    ociVersion: '1.1.0',
    hostname: 'old',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/etc/hosts', type: 'bind', source: '/somewhere', options: ['bind'] },
    ],
    hooks: { poststop: [{ path: '/bin/true', args: ['true'] }] },
    annotations: { keep: 'me' },
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'uts' }, { type: 'mount' }],
    },
  };
}

describe('networkSpec', () => {
  let tmp: TempDir;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  const opts = (network: string): NetworkSpecOptions => ({
    network,
    ports: [{ hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    hostname: 'c0ffee',
    name: 'web',
    containerStateDir: join(tmp.path, 'state'),
    namespace: 'default',
    id: 'c0ffee123',
    hook: {
      argv0: ['/usr/bin/node', '/opt/berth/dist/cli/main.js'],
      globalArgs: hookArgs({ dataRoot: '/d', cniPath: '/p', cniConfDir: '/c' }, 'default'),
    },
  });

  it('bridge: hooks running berth, a new netns, the three files bind-mounted, annotations for the hook', async () => {
    const ns = networkSpec(opts('bridge'));
    const hookArgv = (stage: string) => [
      '/usr/bin/node',
      '/opt/berth/dist/cli/main.js',
      'internal',
      'oci-hook',
      stage,
      '--data-root',
      '/d',
      '--cni-path',
      '/p',
      '--cni-netconfpath',
      '/c',
      '--namespace',
      'default',
    ];
    assert.deepEqual(ns.hooks.createRuntime?.[0]?.args, hookArgv('createRuntime'));
    assert.deepEqual(ns.hooks.poststop?.[0]?.args, hookArgv('postStop'));
    assert.equal(ns.hooks.createRuntime?.[0]?.path, '/usr/bin/node');
    assert.match(ns.hooks.createRuntime?.[0]?.env.join(' ') ?? '', /^PATH=.*\/usr\/sbin/);
    assert.equal(ns.netns, 'new');

    const spec = baseSpec();
    spec.linux = { namespaces: [{ type: 'pid' }] };
    await ns.apply(client, { id: 'c0ffee123' }, spec);
    const state = join(tmp.path, 'state');
    assert.ok(!existsSync(state), 'apply writes no file');
    ns.writeFiles();
    assert.deepEqual(spec.linux.namespaces, [{ type: 'pid' }, { type: 'network' }]);
    assert.equal(spec.hostname, 'c0ffee');
    assert.deepEqual(
      spec.mounts?.map((m) => [m.destination, m.source]),
      [
        ['/proc', 'proc'],
        ['/etc/hosts', join(state, 'hosts')],
        ['/etc/resolv.conf', join(state, 'resolv.conf')],
        ['/etc/hostname', join(state, 'hostname')],
      ],
    );
    for (const f of ['hosts', 'resolv.conf', 'hostname']) assert.ok(existsSync(join(state, f)), f);
    assert.equal(readFileSync(join(state, 'hostname'), 'utf8'), 'c0ffee\n');
    const hooks = spec.hooks as Record<string, { args: string[] }[]>;
    assert.equal(hooks.poststop?.length, 2, "the spec's own poststop hook kept, berth's appended");
    assert.deepEqual(hooks.createRuntime?.[0]?.args, hookArgv('createRuntime'));
    assert.deepEqual(spec.annotations, {
      keep: 'me',
      [Labels.network]: 'bridge',
      [Labels.ports]: JSON.stringify(opts('bridge').ports),
      [Labels.hostname]: 'c0ffee',
      [Labels.stateDir]: state,
      [Labels.name]: 'web',
    });
  });

  it("host: the host's netns, no hooks, the files still mounted", async () => {
    const ns = networkSpec(opts('host'));
    assert.deepEqual(ns.hooks, {});
    assert.equal(ns.netns, 'host');
    const spec = baseSpec();
    await ns.apply(client, { id: 'c0ffee123' }, spec);
    assert.deepEqual(spec.linux?.namespaces, [{ type: 'pid' }, { type: 'uts' }, { type: 'mount' }]);
    assert.equal((spec.hooks as Record<string, unknown[]>).createRuntime, undefined);
    assert.equal(spec.mounts?.filter((m) => m.destination === '/etc/hosts').length, 1);
  });

  it('none: a new netns and no hooks (runc brings up lo)', async () => {
    const ns = networkSpec(opts('none'));
    assert.equal(ns.netns, 'new');
    assert.deepEqual(ns.hooks, {});
    assert.equal(ns.annotations[Labels.network], 'none');
  });

  it('refuses a bad network name and a relative hook command', () => {
    assert.throws(() => networkSpec(opts('a/b')), /invalid network "a\/b"/);
    assert.throws(
      () => networkSpec({ ...opts('bridge'), hook: { argv0: ['berth'], globalArgs: [] } }),
      /absolute path/,
    );
  });
});
