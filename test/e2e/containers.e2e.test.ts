import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Berthd } from '../helpers/berthd.js';
import { Containerd } from '../helpers/containerd.js';
import { type CtrResult, ctr, ctrOk, table } from '../helpers/ctr.js';
import { type BuiltImage, buildAndPush, busyboxImage, type Pushed } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

/**
 * Containers with the real ctr, side by side: every command runs against
 * berthd and against Debian's containerd 1.6 (each pulled the same image
 * from a local registry), and the two must answer alike, down to the exit
 * code, the error text and the events.
 */

const root = process.getuid?.() === 0;

interface Daemon {
  name: 'berthd' | 'containerd';
  socket: string;
  events: ChildProcess;
  eventLog: string;
}

describe('containers with the real ctr, berthd beside containerd', {
  skip: !root && 'needs root',
}, () => {
  let dir: TempDir;
  let ctrdDir: TempDir;
  let reg: Registry;
  let img: BuiltImage & { pushed: Pushed };
  let berthd: Berthd;
  let containerd: Containerd;
  let daemons: Daemon[];
  let spec: string;

  /** Runs ctr against both daemons; returns [berthd, containerd]. */
  const both = (args: string[], namespace?: string): [CtrResult, CtrResult] => {
    const [b, c] = daemons.map((d) => ctr(d.socket, args, namespace ? { namespace } : {}));
    return [b!, c!];
  };
  /** Runs ctr against both, expects both to succeed, and returns [berthd, containerd] stdout. */
  const bothOk = (args: string[], namespace?: string): [string, string] => {
    const results = both(args, namespace);
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 0, `${daemons[i]?.name}: ctr ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    return [results[0].stdout, results[1].stdout];
  };
  /** Both answer the same, exit code and output alike. */
  const same = (args: string[], namespace?: string): CtrResult => {
    const [b, c] = both(args, namespace);
    assert.deepEqual(
      { code: b.code, stdout: b.stdout, stderr: withoutLogTimes(b.stderr) },
      { code: c.code, stdout: c.stdout, stderr: withoutLogTimes(c.stderr) },
      `ctr ${args.join(' ')}`,
    );
    return b;
  };
  const info = (args: string[]) =>
    bothOk(['containers', 'info', ...args]).map((s) => JSON.parse(s) as Record<string, unknown>);

  before(async () => {
    dir = tempDir();
    ctrdDir = tempDir();
    reg = await Registry.start(dir);
    img = await buildAndPush(dir, reg, busyboxImage(), 'berth/busybox:v1');
    berthd = await Berthd.start();
    containerd = await Containerd.start(ctrdDir);
    daemons = [
      { name: 'berthd', socket: berthd.socket },
      { name: 'containerd', socket: containerd.socket },
    ].map(({ name, socket }) => {
      const events = spawn('ctr', ['--address', socket, 'events'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const d: Daemon = { name: name as Daemon['name'], socket, events, eventLog: '' };
      events.stdout?.on('data', (b: Buffer) => (d.eventLog += b.toString()));
      return d;
    });
    spec = join(dir.path, 'spec.json');
    writeFileSync(
      spec,
      JSON.stringify({
        ociVersion: '1.0.2',
        process: { args: ['/bin/sh'], cwd: '/', env: ['PATH=/bin'] },
        root: { path: 'rootfs' },
        annotations: { 'org.example': 'berth' },
      }),
    );
    // Let the subscriptions start before anything happens.
    await new Promise((r) => setTimeout(r, 500));
    bothOk(['images', 'pull', '--plain-http', img.pushed.ref]);
  });
  after(async () => {
    for (const d of daemons ?? []) d.events.kill('SIGKILL');
    await berthd?.cleanup();
    await containerd?.stop();
    await reg?.stop();
    ctrdDir?.remove();
    dir?.remove();
  });

  it('creates containers from an image and from a spec file', () => {
    same(['containers', 'create', '--label', 'team=berth', img.pushed.ref, 'c1']);
    same(['containers', 'create', '--config', spec, '--label', 'from=config', 'c2']);
    // The image container's snapshot is prepared client-side on the image's top layer.
    const [snapshots] = bothOk(['snapshots', 'ls']);
    assert.match(snapshots, /^c1\s+sha256:[0-9a-f]{64}\s+Active\s*$/m);
  });

  it('lists containers, whole and filtered, as containerd does', () => {
    const all = same(['containers', 'ls']);
    assert.deepEqual(table(all.stdout), [
      ['CONTAINER', 'IMAGE', 'RUNTIME'],
      ['c1', img.pushed.ref, 'io.containerd.runc.v2'],
      ['c2', '-', 'io.containerd.runc.v2'],
    ]);
    const filters: [string[], string][] = [
      [['labels.team==berth'], 'c1\n'],
      [['labels.from'], 'c2\n'],
      [[`image==${img.pushed.ref}`], 'c1\n'],
      [['runtime.name==io.containerd.runc.v2'], 'c1\nc2\n'],
      [['id~=^c[0-9]$', 'id==nope'], 'c1\nc2\n'],
      [['id==c2', 'labels.team==berth'], 'c1\nc2\n'],
      // containerd's container filters do not know these fields.
      [['snapshotter==overlayfs'], ''],
      [['snapshotkey==c1'], ''],
    ];
    for (const [f, want] of filters) {
      assert.equal(same(['containers', 'ls', '-q', ...f]).stdout, want, f.join(' '));
    }
    for (const r of both(['containers', 'ls', 'labels.team=='])) {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /filter/);
    }
  });

  it('ctr containers info shows the same record on both, spec included', () => {
    for (const id of ['c1', 'c2']) {
      const [b, c] = info([id]);
      for (const x of [b, c]) {
        assert.equal(x!.CreatedAt, x!.UpdatedAt, 'a new container was not updated');
        assert.ok(Date.parse(String(x!.CreatedAt)) > Date.now() - 600_000);
      }
      const { CreatedAt: _a, UpdatedAt: _b, ...bRest } = b!;
      const { CreatedAt: _c, UpdatedAt: _d, ...cRest } = c!;
      assert.deepEqual(bRest, cRest, id);
    }
    const [c1] = info(['c1']);
    assert.equal(c1?.Snapshotter, 'overlayfs');
    assert.equal(c1?.SnapshotKey, 'c1');
    assert.equal(c1?.Image, img.pushed.ref);
    assert.deepEqual(c1?.Runtime, {
      Name: 'io.containerd.runc.v2',
      Options: { type_url: 'containerd.runc.v1.Options' },
    });
    assert.deepEqual(c1?.Labels, {
      team: 'berth',
      'io.containerd.image.config.stop-signal': 'SIGTERM',
    });
    const [c2] = info(['c2']);
    assert.deepEqual((c2?.Spec as { annotations?: unknown } | undefined)?.annotations, {
      'org.example': 'berth',
      from: 'config',
    });
    same(['containers', 'info', '--spec', 'c1']);
  });

  it('sets and removes labels with ctr containers label', () => {
    for (const [arg, want] of [
      ['k=v', ['io.containerd.image.config.stop-signal=SIGTERM', 'k=v', 'team=berth']],
      ['k=', ['io.containerd.image.config.stop-signal=SIGTERM', 'team=berth']],
    ] as const) {
      // ctr prints the labels in Go's map order: compare them as sets.
      const outs = bothOk(['containers', 'label', 'c1', arg]);
      for (const out of outs) assert.deepEqual(out.trim().split(',').sort(), want, arg);
    }
    const [b, c] = info(['c1']);
    for (const x of [b, c]) {
      assert.deepEqual(x?.Labels, {
        team: 'berth',
        'io.containerd.image.config.stop-signal': 'SIGTERM',
      });
      assert.ok(
        Date.parse(String(x?.UpdatedAt)) > Date.parse(String(x?.CreatedAt)),
        'UpdatedAt moved',
      );
    }
  });

  it('fails alike for a missing container and a duplicate id', () => {
    const missing = same(['containers', 'info', 'missing']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'ctr: container "missing" in namespace "default": not found\n');
    const rm = same(['containers', 'rm', 'missing']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /ctr: container "missing" in namespace "default": not found\n$/);
    same(['containers', 'label', 'missing', 'a=b']);

    const dup = same(['containers', 'create', '--config', spec, 'c2']);
    assert.equal(dup.code, 1);
    assert.equal(dup.stderr, 'ctr: container "c2": already exists\n');
    // With an image the client prepares the snapshot first, which is what fails.
    const dupImage = same(['containers', 'create', img.pushed.ref, 'c1']);
    assert.equal(dupImage.stderr, 'ctr: snapshot "c1": already exists\n');

    const badId = same(['containers', 'create', '--config', spec, 'bad_-id']);
    assert.equal(badId.code, 1);
    assert.match(
      badId.stderr,
      /create container failed validation: container\.ID: identifier "bad_-id" must match/,
    );
  });

  it('a container keeps its snapshot through garbage collection; rm removes it', () => {
    same(['containers', 'create', img.pushed.ref, 'c3']);
    same(['containers', 'create', img.pushed.ref, 'c4']);
    const collect = () => {
      same(['leases', 'create', '--id', 'collect']);
      same(['leases', 'rm', '--sync', 'collect']);
    };
    collect();
    const keys = () => {
      const [b, c] = bothOk(['snapshots', 'ls']);
      assert.deepEqual(snapshotKeys(b), snapshotKeys(c));
      return snapshotKeys(b);
    };
    assert.deepEqual(keys(), ['c1', 'c3', 'c4'], 'containers hold their snapshots');

    // ctr removes the snapshot itself, unless told to keep it.
    same(['containers', 'rm', 'c1']);
    assert.deepEqual(keys(), ['c3', 'c4']);
    same(['containers', 'rm', '--keep-snapshot', 'c3']);
    // ctr left c3 alone; either scheduler may collect it any moment now (both run
    // soon after a deletion, at intervals that follow their pause times), so only
    // c4, which its container roots, is certain here.
    for (const d of daemons) {
      const left = snapshotKeys(ctrOk(d.socket, ['snapshots', 'ls']));
      assert.ok(left.includes('c4') && left.every((k) => k === 'c3' || k === 'c4'), String(left));
    }
    collect();
    assert.deepEqual(keys(), ['c4'], 'nothing roots c3 any more');
    same(['containers', 'rm', 'c4']);
    assert.deepEqual(keys(), []);
    assert.equal(same(['containers', 'ls', '-q']).stdout, 'c2\n');
  });

  it('a namespace holding a container cannot be deleted, and says why', () => {
    same(['containers', 'create', '--config', spec, 'c5'], 'other');
    const r = same(['namespaces', 'rm', 'other']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /namespace "other" must be empty, but it still has containers: failed precondition/,
    );
    assert.equal(same(['containers', 'ls', '-q']).stdout, 'c2\n', 'namespaces are apart');
    same(['containers', 'rm', 'c5'], 'other');
    same(['namespaces', 'rm', 'other']);
    same(['containers', 'rm', 'c2']);
  });

  it('ctr events showed the same /containers/* events on both', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const [b, c] = daemons.map((d) => containerEvents(d.eventLog));
    assert.deepEqual(b, c);
    const topics = b!.map((e) => e.split(' ').slice(0, 2).join(' '));
    assert.deepEqual(topics, [
      'default /containers/create',
      'default /containers/create',
      'default /containers/update',
      'default /containers/update',
      'default /containers/create',
      'default /containers/create',
      'default /containers/delete',
      'default /containers/delete',
      'default /containers/delete',
      'other /containers/create',
      'other /containers/delete',
      'default /containers/delete',
    ]);
    assert.equal(
      b![0],
      `default /containers/create {"id":"c1","image":"${img.pushed.ref}","runtime":{"name":"io.containerd.runc.v2","options":{"type_url":"containerd.runc.v1.Options"}}}`,
    );
    assert.match(
      b![2] ?? '',
      /^default \/containers\/update \{"id":"c1",.*"labels":\{.*"k":"v".*\},"snapshot_key":"c1"\}$/,
    );
    assert.equal(b![6], 'default /containers/delete {"id":"c1"}');
  });
});

/** `<namespace> <topic> <json>` of each /containers/ event line ctr printed. */
function containerEvents(log: string): string[] {
  // `<date> <time> +0000 UTC <namespace> <topic> <json>`
  return log
    .split('\n')
    .map((l) => / UTC (\S+ \/containers\/\S+ .*)$/.exec(l)?.[1])
    .filter((e): e is string => e !== undefined);
}

/** ctr's logrus lines carry the time; nothing else in them differs between daemons. */
function withoutLogTimes(stderr: string): string {
  return stderr.replace(/time="[^"]*"/g, 'time="-"');
}

/** Active snapshot keys of `ctr snapshots ls` (the image's layers are named by digest). */
function snapshotKeys(out: string): string[] {
  return table(out)
    .slice(1)
    .map((r) => r[0] ?? '')
    .filter((k) => !k.startsWith('sha256:'))
    .sort();
}
