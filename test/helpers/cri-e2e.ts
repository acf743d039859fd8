/**
 * What the crictl end-to-end tests against berthd (test/e2e/cri-*.e2e.test.ts) share: the tools'
 * paths and the skip reason, crictl bound to a berthd, the pause image built from cri-tools'
 * pause.c, and the teardown that runs every step.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Berthd } from './berthd.js';
import { type BuiltImage, buildImage } from './images.js';
import type { TempDir } from './tmp.js';

export const CRICTL = '/var/tmp/cri-tools-1.26.1/bin/crictl';
/** cri-tools' pause (test sources), built static into the sandbox image. */
export const PAUSE_C = '/work/shared/tools/cri-tools/src/pause.c';

/** Why the crictl e2e tests cannot run here (root, crictl, pause.c, then `more`), or false. */
export function crictlE2eSkip(more: [missing: boolean, why: string][] = []): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync(CRICTL)) return `${CRICTL} is not built`;
  if (!existsSync(PAUSE_C)) return `${PAUSE_C} is missing`;
  return more.find(([missing]) => missing)?.[1] ?? false;
}

/**
 * crictl against the berthd `daemon()` returns (both services on its socket, 30 s per call):
 * `crictl` gives the exit code and output, `crictlOk` asserts success (berthd's recent output
 * in the message) and returns stdout trimmed.
 */
export function crictlFor(daemon: () => Berthd) {
  const crictl = (args: string[], timeoutMs = 60_000) => {
    const ep = `unix://${daemon().socket}`;
    const r = spawnSync(
      CRICTL,
      ['--runtime-endpoint', ep, '--image-endpoint', ep, '--timeout', '30s', ...args],
      { encoding: 'utf8', timeout: timeoutMs },
    );
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const crictlOk = (args: string[]) => {
    const r = crictl(args);
    assert.equal(
      r.code,
      0,
      `crictl ${args.join(' ')}: ${r.stderr}\n${daemon().output.slice(-4000)}`,
    );
    return r.stdout.trim();
  };
  return { crictl, crictlOk };
}

/** The sandbox image: pause.c built static, run as 65535:65535 (as registry.k8s.io/pause). */
export async function buildPauseImage(dir: TempDir): Promise<BuiltImage> {
  const pauseBin = join(dir.path, 'pause');
  execFileSync('gcc', ['-static', '-O2', '-o', pauseBin, PAUSE_C]);
  return buildImage(dir, {
    layers: [{ entries: [{ type: 'file', path: 'pause', from: pauseBin, mode: 0o755 }] }],
    config: { entrypoint: ['/pause'], user: '65535:65535' },
  });
}

/** Whether process `pid` exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs every teardown step in order, whatever failed before it; failures are logged. */
export async function runTeardown(steps: [what: string, fn: () => unknown][]): Promise<void> {
  for (const [what, fn] of steps) {
    try {
      await fn();
    } catch (err) {
      console.error(`cleanup ${what}: ${(err as Error).message}`);
    }
  }
}

/**
 * berthd's config for the crictl e2e tests: the CRI plugin with containerd 1.6's sandbox image,
 * the streaming server on 127.0.0.1 (any port), restrict_oom_score_adj, the test's CNI
 * directories (`max_conf_num` when given) and its hosts.toml directory.
 */
export function e2eCriConfigToml(o: {
  cniBinDir: string;
  confDir: string;
  certsDir: string;
  maxConfNum?: number;
}): string {
  return `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${o.cniBinDir}"
    conf_dir = "${o.confDir}"
${o.maxConfNum === undefined ? '' : `    max_conf_num = ${o.maxConfNum}\n`}  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${o.certsDir}"
`;
}
