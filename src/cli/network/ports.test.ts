import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { allocateHostPorts, exposedPortMappings, parsePublish } from './ports.js';

describe('parsePublish', () => {
  it('reads docker -p forms', () => {
    assert.deepEqual(parsePublish('8080:80'), [
      { hostIP: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    ]);
    assert.deepEqual(parsePublish('127.0.0.1:8080:80/udp'), [
      { hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' },
    ]);
    assert.deepEqual(parsePublish('80'), [
      { hostIP: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'tcp' },
    ]);
    assert.deepEqual(parsePublish('127.0.0.1::80/TCP'), [
      { hostIP: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' },
    ]);
    assert.deepEqual(parsePublish('[::1]:8080:80'), [
      { hostIP: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    ]);
    assert.deepEqual(parsePublish('0:80'), [
      { hostIP: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'tcp' },
    ]);
  });

  it('maps ranges port for port; a container range alone gets random host ports', () => {
    assert.deepEqual(
      parsePublish('8000-8002:80-82').map((m) => [m.hostPort, m.containerPort]),
      [
        [8000, 80],
        [8001, 81],
        [8002, 82],
      ],
    );
    assert.deepEqual(
      parsePublish('80-81').map((m) => [m.hostPort, m.containerPort]),
      [
        [0, 80],
        [0, 81],
      ],
    );
  });

  it('names the bad spec in its errors', () => {
    const bad: [string, RegExp][] = [
      ['', /empty/],
      ['80/sctp', /invalid protocol "sctp" in -p "80\/sctp"/],
      ['x:80', /invalid host port "x" in -p "x:80"/],
      ['8080:0', /invalid container port "0" in -p "8080:0": out of range/],
      ['8080:70000', /out of range/],
      ['1.2.3:80:80', /invalid host IP "1\.2\.3" in -p "1\.2\.3:80:80"/],
      ['8000-8001:80-82', /differ in length/],
      ['82-80', /end before start/],
      ['::1:80:80', /too many colons/],
      ['8080:', /no container port/],
      ['[::1:80:80', /IPv6/],
    ];
    for (const [spec, re] of bad) {
      assert.throws(
        () => parsePublish(spec),
        (e: Error & { kind?: string }) => {
          assert.match(e.message, re, spec);
          assert.equal(e.kind, 'invalid_argument');
          return true;
        },
      );
    }
  });

  it('-P: the image exposed ports, sorted, on random host ports', () => {
    assert.deepEqual(exposedPortMappings({ '80/tcp': {}, '53/udp': {}, '9/sctp': {} }), [
      { hostIP: '0.0.0.0', hostPort: 0, containerPort: 53, protocol: 'udp' },
      { hostIP: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'tcp' },
    ]);
    assert.deepEqual(exposedPortMappings(undefined), []);
  });
});

describe('allocateHostPorts', () => {
  it('gives random ports that are distinct and free, keeps explicit ones', async () => {
    const got = await allocateHostPorts([
      ...parsePublish('127.0.0.1::80'),
      ...parsePublish('127.0.0.1::81'),
      ...parsePublish('127.0.0.1::53/udp'),
    ]);
    assert.equal(got.length, 3);
    for (const m of got) assert.ok(m.hostPort > 0 && m.hostPort < 65536);
    assert.notEqual(got[0]?.hostPort, got[1]?.hostPort);
    // Free: each can be bound now.
    for (const m of got.filter((m) => m.protocol === 'tcp')) {
      const s = createServer();
      await new Promise<void>((r) => s.listen(m.hostPort, '127.0.0.1', r));
      await new Promise((r) => s.close(r));
    }
  });

  it('refuses a host port in use, as docker words it', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    try {
      await assert.rejects(
        allocateHostPorts(parsePublish(`127.0.0.1:${port}:80`)),
        new RegExp(`Bind for 127\\.0\\.0\\.1:${port} failed: port is already allocated`),
      );
    } finally {
      await new Promise((r) => s.close(r));
    }
  });

  it('refuses and avoids ports other containers publish', async () => {
    const other = { hostIP: '0.0.0.0', hostPort: 0, containerPort: 1, protocol: 'tcp' as const };
    const [free] = await allocateHostPorts([other]);
    const inUse = [{ ...other, hostPort: free?.hostPort as number }];
    await assert.rejects(
      allocateHostPorts(parsePublish(`127.0.0.1:${free?.hostPort}:80`), { inUse }),
      /port is already allocated/,
    );
    const [again] = await allocateHostPorts(parsePublish('::80'), { inUse });
    assert.notEqual(again?.hostPort, free?.hostPort);
  });
});
