// Makes dist/berth/berth.cache (or berth-local.cache, berth-ps.cache), V8's code cache of dist/berth/berth.script.js
// (scripts/bundle-cli.mjs runs this after bundling and copying the start).
// A cache made right after compiling holds only the top level; one made
// after a run holds every function that run compiled too. So this loads the
// script as berth does (dist/berth/berth.js), runs berth's common commands
// against a stand-in daemon (a grpc-js server on a temporary socket
// answering the read-only calls they make with made-up records; any other
// call fails UNIMPLEMENTED, which the commands report like any error), then
// writes the cache.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Which cache (dist/berth/berth.js's CACHES): each is made by a process of its
// own, since V8 shares compiled functions between Scripts of one source.
const kind = process.argv[2];
if (kind !== 'local' && kind !== 'ps' && kind !== 'daemon')
  throw new Error('usage: cli-code-cache.mjs local|ps|daemon');
const api = (p) => import(join(root, 'dist/api/containerd/services', p));
const { ContainersService } = await api('containers/v1/containers.js');
const { ImagesService } = await api('images/v1/images.js');
const { TasksService } = await api('tasks/v1/tasks.js');
const { VersionService } = await api('version/v1/version.js');

const NOW = { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 };
const IMAGE = 'registry.example/library/busybox:latest';
const spec = JSON.stringify({
  ociVersion: '1.1.0',
  process: { args: ['sh'], env: ['PATH=/usr/bin:/bin'], cwd: '/' },
  root: { path: 'rootfs' },
  hostname: 'warm',
});
const containers = ['warm0', 'warm1', 'warm2'].map((id, i) => ({
  id,
  labels: { 'berth/name': `n${i}`, 'berth/image': IMAGE, 'containerd.io/restart.policy': 'no' },
  image: IMAGE,
  runtime: { name: 'io.containerd.runc.v2' },
  spec: {
    typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
    value: Buffer.from(spec),
  },
  snapshotter: 'overlayfs',
  snapshotKey: id,
  createdAt: NOW,
  updatedAt: NOW,
  extensions: {},
  sandbox: '',
}));
const processes = containers.map((c, i) => ({
  containerId: c.id,
  id: c.id,
  pid: 1000 + i,
  status: i === 2 ? 3 : 2, // RUNNING, STOPPED
  stdin: '',
  stdout: '',
  stderr: '',
  terminal: false,
  exitStatus: 0,
  exitedAt: NOW,
}));
const image = {
  name: IMAGE,
  labels: {},
  target: {
    mediaType: 'application/vnd.oci.image.index.v1+json',
    digest: `sha256:${'0'.repeat(64)}`,
    size: 1000n,
    annotations: {},
  },
  createdAt: NOW,
  updatedAt: NOW,
};
const find = (list, id, what) => {
  const x = list.find((c) => c.id === id || c.containerId === id);
  return x ?? { code: grpc.status.NOT_FOUND, details: `${what} ${id}: not found` };
};
const reply = (f) => (call, cb) => {
  const r = f(call.request);
  if (r !== undefined && 'code' in r && 'details' in r) cb(r);
  else cb(null, r);
};

const server = new grpc.Server();
server.addService(VersionService, {
  version: reply(() => ({ version: 'warm-up', revision: '' })),
});
server.addService(ContainersService, {
  list: reply(() => ({ containers })),
  get: reply((req) => {
    const c = find(containers, req.id, 'container');
    return 'code' in c ? c : { container: c };
  }),
});
server.addService(TasksService, {
  list: reply(() => ({ tasks: processes })),
  get: reply((req) => {
    const p = find(processes, req.containerId, 'task');
    return 'code' in p ? p : { process: p };
  }),
});
server.addService(ImagesService, {
  list: reply(() => ({ images: [image] })),
  get: reply(() => ({ image })),
});

const dir = mkdtempSync(join(tmpdir(), 'berth-code-cache-'));
try {
  const socket = join(dir, 'berth.sock');
  await new Promise((resolve, reject) =>
    server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  const { load, CACHES } = createRequire(import.meta.url)('../dist/berth/berth.js');
  const { script, exports } = load(undefined);
  const sink = () =>
    Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), { isTTY: false, columns: 80 });
  const io = { stdin: process.stdin, stdout: sink(), stderr: sink() };
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const g = ['--address', socket, '--data-root', join(dir, 'data')];
  // Read-only commands; one missing from this build fails like a typo.
  const warmUps = {
    local: [['--help'], ['version', '--client'], ['version', '--client', '--format', 'json']],
    // `ps` alone: a cache of half the size loads ~3 ms faster.
    ps: [['ps'], ['ps', '-a'], ['ps', '-a', '--format', 'json'], ['ps', '-q']],
    daemon: [
      ['--help'],
      ['version', '--client'],
      ['version'],
      ['version', '--format', 'json'],
      ['ps'],
      ['ps', '-a'],
      ['ps', '-a', '--format', 'json'],
      ['images'],
      ['inspect', 'warm0'],
    ],
  };
  for (const argv of warmUps[kind]) {
    await exports.main([...g, ...argv], io, env, [
      process.execPath,
      join(root, 'dist/berth/berth.js'),
    ]);
  }
  writeFileSync(CACHES[kind], script.createCachedData());
} finally {
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
}
