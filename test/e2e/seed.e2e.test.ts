/**
 * examples/seed.ts (berth's TypeScript client) prints what test/go/seed
 * (containerd's Go client) prints, against berthd and against containerd.
 * `redis:alpine` is a busybox image under that name in a local registry,
 * whose command exits 0 on SIGTERM as redis does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Berthd, REPO } from '../helpers/berthd.js';
import { Containerd } from '../helpers/containerd.js';
import { buildGoProgram } from '../helpers/go.js';
import { buildAndPush, busyboxImage } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const root = process.getuid?.() === 0;

describe('the seed program: TypeScript client and Go client print the same', {
  skip: !root && 'needs root',
}, () => {
  let work: TempDir;
  let registry: Registry;
  let goSeed: string;
  let digest: string;

  before(async () => {
    work = tempDir();
    registry = await Registry.start(work);
    const built = await buildAndPush(
      work,
      registry,
      busyboxImage({
        config: {
          cmd: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.2; done'],
        },
      }),
      'library/redis:alpine',
    );
    digest = built.pushed.digest;
    goSeed = await buildGoProgram(work, 'seed');
  });
  after(async () => {
    await registry?.stop();
    work?.remove();
  });

  const seed = async (cmd: string[], socket: string, namespace: string) => {
    const [file, ...args] = cmd;
    const { stdout } = await run(file ?? '', [...args, registry.host], {
      cwd: REPO,
      // TMPDIR: the TypeScript client's FIFOs go under the test's directory.
      env: {
        ...process.env,
        CONTAINERD_ADDRESS: socket,
        CONTAINERD_NAMESPACE: namespace,
        TMPDIR: work.path,
      },
      timeout: 120_000,
    });
    return stdout;
  };

  const daemons: [string, () => Promise<{ socket: string; cleanup(): Promise<void> }>][] = [
    [
      'berthd',
      async () => {
        const d = await Berthd.start();
        return { socket: d.socket, cleanup: () => d.cleanup() };
      },
    ],
    [
      'containerd',
      async () => {
        const dir = tempDir();
        const c = await Containerd.start(dir);
        return {
          socket: c.socket,
          cleanup: async () => {
            await c.kill9();
            dir.remove();
          },
        };
      },
    ],
  ];

  for (const [name, start] of daemons) {
    it(`against ${name}`, async () => {
      const d = await start();
      try {
        const ts = await seed(
          [process.execPath, '--import', 'tsx', join(REPO, 'examples/seed.ts')],
          d.socket,
          'seed-ts',
        );
        const go = await seed([goSeed], d.socket, 'seed-go');
        const ref = `${registry.host}/library/redis:alpine`;
        const lines = go.trimEnd().split('\n');
        assert.equal(lines[0], `pulled ${ref} ${digest}`);
        assert.match(lines[1] ?? '', new RegExp(`^image ${ref.replace(/\./g, '\\.')} \\d+$`));
        assert.deepEqual(lines.slice(2), [
          'container redis-server created',
          'task created',
          'task started',
          'redis-server exited with status: 0',
        ]);
        assert.equal(ts, go);
      } finally {
        await d.cleanup();
      }
    });
  }
});
