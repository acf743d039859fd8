/**
 * The client library against each daemon it must work with: berthd,
 * Debian's containerd 1.6 and containerd 1.7.13 (built from the shared
 * source; skipped when it is not there). The cases are in client-cases.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { Client } from '../../src/client/index.js';
import { Berthd } from '../helpers/berthd.js';
import { CONTAINERD17_BIN, Containerd, containerd17Missing } from '../helpers/containerd.js';
import { ctrOkAsync } from '../helpers/ctr.js';
import { type BuiltImage, buildAndPush, busyboxImage, type Pushed } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { type ClientTarget, registerClientCases } from './client-cases.js';

const root = process.getuid?.() === 0;
const NAMESPACE = 'client-e2e';

interface Daemon {
  socket: string;
  pid: number;
  cleanup(): Promise<void>;
}

const DAEMONS: { name: string; skip: string | false; start(): Promise<Daemon> }[] = [
  {
    name: 'berthd',
    skip: false,
    start: async () => {
      const d = await Berthd.start();
      return { socket: d.socket, pid: d.pid, cleanup: () => d.cleanup() };
    },
  },
  {
    name: 'containerd 1.6',
    skip: false,
    start: () => startContainerd(),
  },
  {
    name: 'containerd 1.7',
    skip: containerd17Missing() ?? false,
    start: () => startContainerd(CONTAINERD17_BIN),
  },
];

async function startContainerd(binDir?: string): Promise<Daemon> {
  const dir = tempDir();
  try {
    const c = await Containerd.start(dir, binDir === undefined ? {} : { binDir });
    return {
      socket: c.socket,
      pid: c.pid,
      cleanup: async () => {
        await c.kill9();
        dir.remove();
      },
    };
  } catch (err) {
    dir.remove();
    throw err;
  }
}

describe('client library', { skip: !root && 'needs root' }, () => {
  let work: TempDir;
  let registry: Registry;
  let authRegistry: Registry;
  const AUTH = { username: 'berth', password: 'client-e2e-secret' };
  let built: BuiltImage & { pushed: Pushed };
  let baseSpec: Record<string, unknown>;

  before(async () => {
    work = tempDir();
    registry = await Registry.start(work);
    authRegistry = await Registry.start(work, {
      htpasswd: { [AUTH.username]: AUTH.password },
      storage: join(work.path, 'auth-registry'),
    });
    built = await buildAndPush(work, registry, busyboxImage(), 'berth/client:v1');
    const gen = join(work.path, 'runc-spec');
    mkdirSync(gen);
    execFileSync('runc', ['spec', '--bundle', gen]);
    baseSpec = JSON.parse(readFileSync(join(gen, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
  });
  after(async () => {
    await registry?.stop();
    await authRegistry?.stop();
    work?.remove();
  });

  for (const daemon of DAEMONS) {
    describe(daemon.name, { skip: daemon.skip }, () => {
      let d: Daemon | undefined;
      let client: Client | undefined;
      let target: ClientTarget | undefined;

      before(async () => {
        d = await daemon.start();
        await ctrOkAsync(d.socket, ['images', 'pull', '--plain-http', built.pushed.ref], {
          namespace: NAMESPACE,
          timeoutMs: 60_000,
        });
        client = new Client(d.socket, { namespace: NAMESPACE });
        const dir = join(work.path, `${daemon.name.replace(/\W+/g, '-')}`);
        mkdirSync(dir, { recursive: true });
        const ctrArchive = join(dir, 'ctr-export.tar');
        await ctrOkAsync(d.socket, ['images', 'export', ctrArchive, built.pushed.ref], {
          namespace: NAMESPACE,
        });
        target = {
          name: daemon.name,
          socket: d.socket,
          client,
          // One layer: its chain ID is its diff ID.
          image: { ref: built.pushed.ref, chainId: built.layers[0]?.diffId ?? '' },
          registry: registry.host,
          authRegistry: { host: authRegistry.host, ...AUTH },
          layout: {
            path: built.layout,
            tag: built.tag,
            digest: built.manifest.digest,
            // containerd's image size: manifest, config and layers.
            size: built.manifest.size + built.config.size + (built.layers[0]?.size ?? 0),
          },
          ctrArchive,
          fifoDir: join(dir, 'fifo'),
          baseSpec,
          work: dir,
        };
      });
      after(async () => {
        client?.close();
        await d?.cleanup();
      });

      registerClientCases(() => {
        if (target === undefined) throw new Error(`${daemon.name} did not start`);
        return target;
      });
    });
  }
});
