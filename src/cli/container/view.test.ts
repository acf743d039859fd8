import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Container } from '../../core/containers/index.js';
import { goTimeString } from '../format/index.js';
import { Labels, RestartLabels } from '../labels.js';
import type { TaskInfo } from './tasks.js';
import { taskFromProto } from './tasks.js';
import {
  checkPsFilters,
  containerView,
  formatPorts,
  inspectContainer,
  matchesFilters,
  portsOf,
  restartPolicy,
  statusOf,
} from './view.js';

const NOW = new Date('2026-01-02T10:00:00Z');
const ID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

function record(over: Partial<Container> = {}, labels: Record<string, string> = {}): Container {
  const spec = {
    hostname: 'web',
    process: {
      args: ['httpd', '-f', '-p', '80', '-h', '/var/www'],
      env: ['PATH=/bin', 'A=1'],
      cwd: '/srv',
      terminal: false,
    },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/data', type: 'bind', source: '/host/data', options: ['rbind', 'ro'] },
      { destination: '/etc/hosts', type: 'bind', source: '/state/web/hosts' },
    ],
  };
  return {
    id: ID,
    labels: {
      [Labels.name]: 'web',
      [Labels.image]: 'busybox:1.36',
      [Labels.stateDir]: '/state/web',
      ...labels,
    },
    image: 'docker.io/library/busybox:1.36',
    runtime: { name: 'io.containerd.runc.v2' },
    spec: { typeUrl: 'spec', value: Buffer.from(JSON.stringify(spec)) },
    snapshotter: 'overlayfs',
    snapshotKey: ID,
    sandbox: '',
    createdAt: BigInt(Date.parse('2026-01-02T09:00:00Z')) * 1_000_000n,
    updatedAt: 0n,
    extensions: {},
    ...over,
  };
}

function task(status: TaskInfo['status'], over: Partial<TaskInfo> = {}): TaskInfo {
  return { id: ID, pid: 4242, status, exitStatus: 0, exitedAt: undefined, ...over };
}

describe('container status', () => {
  it('says Up with the time since the start, and (Paused) when paused', () => {
    const started = new Date(NOW.getTime() - 3 * 60_000);
    assert.equal(statusOf(task('running'), NOW, started), 'Up 3 minutes');
    assert.equal(statusOf(task('running'), NOW, new Date(NOW.getTime() - 5000)), 'Up 5 seconds');
    assert.equal(statusOf(task('paused'), NOW, started), 'Up 3 minutes (Paused)');
    assert.equal(statusOf(task('running'), NOW), 'Up');
  });

  it('says Exited with the code and how long ago', () => {
    const t = task('stopped', { exitStatus: 137, exitedAt: new Date(NOW.getTime() - 2000) });
    assert.equal(statusOf(t, NOW), 'Exited (137) 2 seconds ago');
    assert.equal(statusOf(task('stopped', { exitStatus: 0 }), NOW), 'Exited (0)');
  });

  it('says Created without a task or before it started', () => {
    assert.equal(statusOf(undefined, NOW), 'Created');
    assert.equal(statusOf(task('created'), NOW), 'Created');
  });

  it('reads the wire task: the container id from id, the zero exit time as none', () => {
    const t = taskFromProto({
      id: 'c1',
      containerId: '',
      pid: 7,
      status: 3,
      exitStatus: 2,
      exitedAt: { seconds: 1_767_348_000n, nanos: 5_000_000 },
    });
    assert.deepEqual(t, {
      id: 'c1',
      pid: 7,
      status: 'stopped',
      exitStatus: 2,
      exitedAt: new Date(1_767_348_000_005),
    });
    const zero = taskFromProto({
      id: 'c2',
      containerId: '',
      pid: 9,
      status: 2,
      exitStatus: 0,
      exitedAt: { seconds: -62135596800n, nanos: 0 },
    });
    assert.equal(zero.exitedAt, undefined);
    assert.equal(zero.status, 'running');
  });
});

describe('ports', () => {
  it("formats docker's PORTS column, 0.0.0.0 for all addresses", () => {
    assert.equal(
      formatPorts([
        { hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostIP: '', hostPort: 5353, containerPort: 53, protocol: 'udp' },
      ]),
      '127.0.0.1:8080->80/tcp, 0.0.0.0:5353->53/udp',
    );
    assert.equal(formatPorts([]), '');
  });

  it('reads the ports label, and nothing from a broken one', () => {
    const p = [{ hostIP: '127.0.0.1', hostPort: 1, containerPort: 2, protocol: 'tcp' }];
    assert.deepEqual(portsOf({ [Labels.ports]: JSON.stringify(p) }), p);
    assert.deepEqual(portsOf({ [Labels.ports]: '{nope' }), []);
    assert.deepEqual(portsOf({}), []);
  });
});

describe('containerView', () => {
  it("answers docker ps's fields, truncated", () => {
    const ports = [{ hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
    const c = record({}, { [Labels.ports]: JSON.stringify(ports), tier: 'front' });
    const v = containerView(c, task('running'), {
      now: NOW,
      startedAt: new Date(NOW.getTime() - 60_000),
    });
    assert.equal(v.ID, ID.slice(0, 12));
    assert.equal(v.Names, 'web');
    assert.equal(v.Image, 'busybox:1.36');
    assert.equal(v.Command, '"httpd -f -p 80 -h /…"');
    assert.equal(v.CreatedAt, goTimeString(new Date('2026-01-02T09:00:00Z')));
    assert.equal(v.RunningFor, 'About an hour ago');
    assert.equal(v.Status, 'Up About a minute');
    assert.equal(v.State, 'running');
    assert.equal(v.Ports, '127.0.0.1:8080->80/tcp');
    assert.equal(v.Labels, 'tier=front');
    assert.equal(v.Mounts, '/host/data');
  });

  it('keeps ids and commands whole with noTrunc, and falls back to the id and record image', () => {
    const c = record({}, {});
    delete c.labels[Labels.name];
    delete c.labels[Labels.image];
    const v = containerView(c, undefined, { now: NOW, noTrunc: true });
    assert.equal(v.ID, ID);
    assert.equal(v.Names, ID);
    assert.equal(v.Image, 'docker.io/library/busybox:1.36');
    assert.equal(v.Command, '"httpd -f -p 80 -h /var/www"');
    assert.equal(v.State, 'created');
  });
});

describe('ps filters', () => {
  const c = record({}, { tier: 'front' });
  const f = (entries: [string, string[]][]) => new Map(entries);

  it('matches status, name, id, label, ancestor and exited', () => {
    const running = task('running');
    const exited = task('stopped', { exitStatus: 3 });
    assert.ok(matchesFilters(c, running, f([['status', ['running']]])));
    assert.ok(!matchesFilters(c, exited, f([['status', ['running']]])));
    assert.ok(matchesFilters(c, exited, f([['status', ['running', 'exited']]])));
    assert.ok(matchesFilters(c, undefined, f([['status', ['created']]])));
    assert.ok(matchesFilters(c, running, f([['name', ['we']]])));
    assert.ok(!matchesFilters(c, running, f([['name', ['^eb']]])));
    assert.ok(matchesFilters(c, running, f([['id', ['0123']]])));
    assert.ok(!matchesFilters(c, running, f([['id', ['1234']]])));
    assert.ok(matchesFilters(c, running, f([['label', ['tier']]])));
    assert.ok(matchesFilters(c, running, f([['label', ['tier=front']]])));
    assert.ok(!matchesFilters(c, running, f([['label', ['tier=back']]])));
    assert.ok(matchesFilters(c, running, f([['ancestor', ['busybox']]])));
    assert.ok(matchesFilters(c, running, f([['ancestor', ['busybox:1.36']]])));
    assert.ok(!matchesFilters(c, running, f([['ancestor', ['alpine']]])));
    assert.ok(matchesFilters(c, exited, f([['exited', ['3']]])));
    assert.ok(!matchesFilters(c, exited, f([['exited', ['0']]])));
    assert.ok(!matchesFilters(c, running, f([['exited', ['0']]])));
  });

  it('requires every key (values of one key are alternatives)', () => {
    const running = task('running');
    assert.ok(
      matchesFilters(
        c,
        running,
        f([
          ['name', ['web']],
          ['label', ['tier=front']],
        ]),
      ),
    );
    assert.ok(
      !matchesFilters(
        c,
        running,
        f([
          ['name', ['web']],
          ['label', ['tier=back']],
        ]),
      ),
    );
  });

  it("refuses unknown keys and values with docker's messages", () => {
    assert.throws(
      () => checkPsFilters(f([['colour', ['red']]])),
      /^Error: invalid filter 'colour'$/,
    );
    assert.throws(
      () => checkPsFilters(f([['status', ['sleepy']]])),
      /invalid filter 'status=sleepy'/,
    );
    assert.throws(() => checkPsFilters(f([['exited', ['x']]])), /invalid filter 'exited=x'/);
    checkPsFilters(
      f([
        ['status', ['running', 'exited']],
        ['exited', ['0']],
      ]),
    );
  });
});

describe('inspectContainer', () => {
  it("has docker's shape", () => {
    const ports = [{ hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
    const c = record(
      {},
      {
        [Labels.ports]: JSON.stringify(ports),
        [Labels.network]: 'bridge',
        [RestartLabels.policy]: 'on-failure:3',
        [RestartLabels.count]: '2',
      },
    );
    const started = new Date('2026-01-02T09:30:00Z');
    const i = inspectContainer(c, task('running'), {
      startedAt: started,
      logPath: '/state/web/web-json.log',
      network: {
        network: 'bridge',
        ipAddress: '10.4.0.2',
        gateway: '10.4.0.1',
        macAddress: 'aa:bb',
        addresses: [{ address: '10.4.0.2', prefixLength: 24 }],
      },
    }) as Record<string, any>;
    assert.equal(i.Id, ID);
    assert.equal(i.Name, '/web');
    assert.equal(i.Path, 'httpd');
    assert.deepEqual(i.Args, ['-f', '-p', '80', '-h', '/var/www']);
    assert.equal(i.Created, '2026-01-02T09:00:00.000Z');
    assert.deepEqual(
      { ...i.State },
      {
        Status: 'running',
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: 4242,
        ExitCode: 0,
        Error: '',
        StartedAt: started.toISOString(),
        FinishedAt: '0001-01-01T00:00:00Z',
      },
    );
    assert.equal(i.RestartCount, 2);
    assert.equal(i.LogPath, '/state/web/web-json.log');
    assert.equal(i.HostsPath, '/state/web/hosts');
    assert.deepEqual(i.HostConfig.PortBindings, {
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
    });
    assert.deepEqual(i.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.equal(i.HostConfig.NetworkMode, 'bridge');
    assert.equal(i.Config.Hostname, 'web');
    assert.deepEqual(i.Config.Env, ['PATH=/bin', 'A=1']);
    assert.deepEqual(i.Config.Cmd, ['httpd', '-f', '-p', '80', '-h', '/var/www']);
    assert.equal(i.Config.WorkingDir, '/srv');
    assert.equal(i.Config.Image, 'busybox:1.36');
    assert.equal(i.NetworkSettings.IPAddress, '10.4.0.2');
    assert.equal(i.NetworkSettings.IPPrefixLen, 24);
    assert.equal(i.NetworkSettings.Gateway, '10.4.0.1');
    assert.equal(i.NetworkSettings.MacAddress, 'aa:bb');
    assert.deepEqual(i.NetworkSettings.Ports, {
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
    });
    assert.deepEqual(
      i.Mounts.map((m: { Destination: string; RW: boolean }) => [m.Destination, m.RW]),
      [['/data', false]],
    );
    JSON.parse(JSON.stringify(i));
  });

  it('shows an exited container with its code and end, and no pid', () => {
    const end = new Date('2026-01-02T09:59:00Z');
    const i = inspectContainer(
      record(),
      task('stopped', { exitStatus: 1, exitedAt: end }),
    ) as Record<string, any>;
    assert.equal(i.State.Status, 'exited');
    assert.equal(i.State.Running, false);
    assert.equal(i.State.Pid, 0);
    assert.equal(i.State.ExitCode, 1);
    assert.equal(i.State.FinishedAt, end.toISOString());
    assert.equal(i.HostConfig.NetworkMode, 'none');
    assert.deepEqual(i.NetworkSettings.Networks, {});
  });

  it('reads restart policies as docker names them', () => {
    assert.deepEqual(restartPolicy({}), { Name: 'no', MaximumRetryCount: 0 });
    assert.deepEqual(restartPolicy({ [RestartLabels.policy]: 'always' }), {
      Name: 'always',
      MaximumRetryCount: 0,
    });
  });
});
