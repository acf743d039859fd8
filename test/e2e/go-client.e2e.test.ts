import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Berthd } from '../helpers/berthd.js';
import { Containerd } from '../helpers/containerd.js';
import { buildGoProgram } from '../helpers/go.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

/**
 * containerd's own Go client (github.com/containerd/containerd 1.6 from
 * Debian's golang-github-containerd-containerd-dev) against berthd and
 * against Debian's containerd: test/go/nsclient prints one `key: value` line
 * per observation, and both daemons must produce the same lines.
 */

const root = process.getuid?.() === 0;
const run = promisify(execFile);

/** Lines about services berthd does not have yet: checked for berthd alone. */
const BERTHD_ONLY = 'berthd-only.';

/**
 * Answers where berthd deliberately differs from containerd 1.6, pinned on
 * both sides. containerd does not validate the name on Namespaces.Update, so
 * SetLabel creates a namespace named "Bad Name!"; deleting it removes it and
 * then fails publishing the event (namespace validation, UNKNOWN). berthd
 * refuses the invalid name and has nothing to delete.
 */
const DIVERGENT: Record<string, { containerd: string; berthd: string }> = {
  'set-label.invalid-name': { containerd: 'ok', berthd: 'invalid-argument' },
  'list.after-invalid-set': { containerd: 'Bad Name!', berthd: '' },
  'delete.invalid-name.after-set': { containerd: 'unknown', berthd: 'not-found' },
};

type Lines = [key: string, value: string][];

function parse(stdout: string): Lines {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const i = l.indexOf(': ');
      assert.ok(i > 0, `not a key: value line: ${JSON.stringify(l)}`);
      return [l.slice(0, i), l.slice(i + 2)];
    });
}

async function runClient(bin: string, socket: string): Promise<Lines> {
  try {
    const { stdout } = await run(bin, [socket], { timeout: 90_000, env: {} });
    return parse(stdout);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    throw new Error(
      `nsclient ${socket} failed (${e.code}):\n${e.stderr ?? ''}\nstdout:\n${e.stdout ?? ''}`,
    );
  }
}

describe("containerd's Go client against berthd", { skip: !root && 'needs root' }, () => {
  let dir: TempDir | undefined;
  let ctrdDir: TempDir | undefined;
  let berthd: Berthd | undefined;
  let containerd: Containerd | undefined;
  let buildMs = 0;
  let fromBerthd: Lines = [];
  let fromContainerd: Lines = [];

  before(async () => {
    dir = tempDir();
    const started = Date.now();
    const bin = await buildGoProgram(dir, 'nsclient');
    buildMs = Date.now() - started;

    berthd = await Berthd.start();
    ctrdDir = tempDir();
    containerd = await Containerd.start(ctrdDir);

    fromBerthd = await runClient(bin, berthd.socket);
    fromContainerd = await runClient(bin, containerd.socket);
  });

  after(async () => {
    await berthd?.cleanup();
    await containerd?.stop();
    ctrdDir?.remove();
    dir?.remove();
  });

  it('gets the same answers from berthd as from containerd', (t) => {
    t.diagnostic(`go build (cold cache, offline): ${buildMs} ms`);
    assert.ok(fromContainerd.length > 30, `too few lines:\n${JSON.stringify(fromContainerd)}`);

    // Containerd's answers, with the lines that may differ replaced by what
    // berthd must say; one deepEqual shows every difference at once.
    const expected = fromContainerd.map(([key, value]): string => {
      if (key.startsWith(BERTHD_ONLY)) {
        const mine = fromBerthd.find(([k]) => k === key);
        return `${key}: ${mine?.[1] ?? value}`;
      }
      const d = DIVERGENT[key];
      if (d !== undefined) {
        assert.equal(value, d.containerd, `containerd's ${key}`);
        return `${key}: ${d.berthd}`;
      }
      return `${key}: ${value}`;
    });
    // + is berthd, - is containerd.
    assert.deepEqual(
      fromBerthd.map(([k, v]) => `${k}: ${v}`),
      expected,
    );
    for (const key of Object.keys(DIVERGENT)) {
      assert.ok(
        fromContainerd.some(([k]) => k === key),
        `${key} missing from the output`,
      );
    }
  });

  it("berthd's answers, checked directly", () => {
    const got = new Map(fromBerthd);
    const expect: Record<string, string> = {
      connect: 'ok',
      serving: 'true',
      'version.present': 'yes',
      'server.uuid.present': 'yes',
      'server.uuid.stable': 'yes',
      'introspection.server.uuid.same': 'yes',
      'labels.missing': 'ok {}',
      labels: '{a=1,b=2}',
      'labels.after-set': '{a=changed,b=2,c=3}',
      'labels.after-unset': '{a=changed,c=3}',
      list: 'gotest,gotest-b,gotest-set',
      'create.exists.is-already-exists': 'yes',
      'create.exists.message': 'namespace "gotest": already exists',
      'create.invalid-name.is-invalid-argument': 'yes',
      'delete.missing.is-not-found': 'yes',
      'delete.missing.message': 'namespace "gotest-missing": not found',
      'list.after-delete': '',
      'plugins.grpc.all-of-type': 'yes',
      'plugins.grpc.has.namespaces': 'yes',
      'plugins.grpc.has.version': 'yes',
      'plugins.grpc.has.introspection': 'yes',
      'plugins.grpc.namespaces.count': '1',
      'images.list': 'ok',
      'images.list.bad-namespace': 'invalid-argument',
    };
    for (const [key, value] of Object.entries(expect)) {
      assert.equal(got.get(key), value, key);
    }
  });
});
