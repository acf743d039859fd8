import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RuntimeServiceService } from '../../api/k8s/cri/runtime/v1/api.js';
import { nullLogger } from '../../core/log/index.js';
import { GrpcServer } from '../../server/server.js';
import { type GrpcService, unary } from '../../server/service.js';
import { removeTree } from '../../sys/remove-tree.js';
import { StreamingServer } from './server.js';
import { FakeRuntime } from './testing/fake-runtime.js';
import type { AttachRequest, ExecRequest, PortForwardRequest } from './types.js';

/**
 * The streaming server under the real crictl 1.26.1 (built by the shared tools' build.sh): a RuntimeService that
 * answers only Version, Exec, Attach and PortForward hands crictl the server's URLs; a fake runtime stands in for
 * containers.
 */
const CRICTL = process.env.BERTH_CRICTL ?? '/var/tmp/cri-tools-1.26.1/bin/crictl';
const skip = existsSync(CRICTL)
  ? false
  : `no crictl at ${CRICTL} (run the shared tools' cri-tools/build.sh)`;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe('streaming server with crictl', { skip }, () => {
  const runtime = new FakeRuntime();
  let dir: string;
  let grpc: GrpcServer;
  let streaming: StreamingServer;
  let echo: Server;
  let echoPort = 0;
  let endpoint: string;
  let config: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-crictl-'));
    streaming = new StreamingServer({ address: '127.0.0.1', port: 0, runtime, log: nullLogger });
    await streaming.start();
    const service: GrpcService = {
      name: 'runtime.v1.RuntimeService',
      definition: RuntimeServiceService,
      namespaced: false,
      handlers: {
        Version: unary(() => ({
          version: '0.1.0',
          runtimeName: 'berth-streaming-test',
          runtimeVersion: '0',
          runtimeApiVersion: 'v1',
        })),
        Exec: unary((_ctx, req: ExecRequest) => streaming.getExec(req)),
        Attach: unary((_ctx, req: AttachRequest) => streaming.getAttach(req)),
        PortForward: unary((_ctx, req: PortForwardRequest) => streaming.getPortForward(req)),
      },
    };
    const socket = join(dir, 'cri.sock');
    grpc = new GrpcServer(
      {
        address: socket,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        log: nullLogger,
      },
      [service],
    );
    await grpc.start();
    endpoint = `unix://${socket}`;
    config = join(dir, 'crictl.yaml');
    writeFileSync(
      config,
      `runtime-endpoint: ${endpoint}\nimage-endpoint: ${endpoint}\ntimeout: 10\n`,
    );
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
  });

  after(async () => {
    await streaming?.close();
    await grpc?.stop(1000);
    await new Promise((r) => (echo ? echo.close(r) : r(undefined)));
    if (dir) removeTree(dir, tmpdir());
  });

  function crictl(args: string[], input = ''): Promise<Result> {
    return new Promise((resolve) => {
      const p = execFile(
        CRICTL,
        ['--config', config, '--runtime-endpoint', endpoint, ...args],
        { timeout: 30_000 },
        (err, stdout, stderr) =>
          resolve({
            code: err ? Number((err as { code?: number }).code ?? -1) : 0,
            stdout,
            stderr,
          }),
      );
      p.stdin!.end(input);
    });
  }

  it('crictl exec -i: stdin to stdout', async () => {
    const r = await crictl(['exec', '-i', 'ctr1', 'cat'], 'through crictl\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'through crictl\n');
    assert.ok(runtime.calls.includes('exec ctr1 cat tty=false'));
  });

  it('crictl exec: stdout, stderr and the exit status', async () => {
    const r = await crictl(['exec', 'ctr1', 'fail', '3', 'out']);
    // crictl 1.26 exits 1 and names the command's exit code.
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'out');
    assert.match(r.stderr, /^out on stderr/);
    assert.match(r.stderr, /execing command in container: command terminated with exit code 3/);
  });

  it('crictl attach -i', async () => {
    const r = await crictl(['attach', '-i', 'ctr2'], 'attached by crictl\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'attached by crictl\n');
  });

  it('crictl port-forward', async () => {
    const child = spawn(
      CRICTL,
      ['--config', config, '--runtime-endpoint', endpoint, 'port-forward', 'pod1', `0:${echoPort}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const local = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.once('exit', (code) =>
          reject(new Error(`crictl port-forward exited ${code}: ${out}`)),
        );
      });
      const payload = 'x'.repeat(300_000);
      const back = await new Promise<string>((resolve, reject) => {
        const s = connect(local, '127.0.0.1', () => s.end(payload));
        let got = '';
        s.on('data', (c: Buffer) => {
          got += c.toString();
        });
        s.on('end', () => resolve(got));
        s.on('error', reject);
      });
      assert.equal(back, payload);
      assert.ok(runtime.calls.includes(`portforward pod1 ${echoPort}`));
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('close', r));
    }
  });
});
