import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { dataLoss } from '../core/errdefs/index.js';
import { type NetworkConfigList, parseConfList } from './conf.js';
import type { RuntimeConf } from './invoke.js';
import { type CniResult, parseResult } from './result.js';

/**
 * What berth remembers of one attachment (network × container × interface),
 * in libcni's cache format (`kind: cniCacheV1`, the list bytes base64 in
 * `config`). It is written before the first plugin runs, without `result`,
 * so a DEL after a crash in the middle of an ADD still knows what to undo.
 */
export interface CacheEntry {
  network: NetworkConfigList;
  rt: RuntimeConf;
  /** The ADD result; absent while the ADD has not completed. */
  result?: CniResult;
}

interface CacheFile {
  kind: 'cniCacheV1';
  containerId: string;
  config: string;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs?: [string, string][];
  capabilityArgs?: Record<string, unknown>;
  result?: unknown;
}

/**
 * libcni's result cache (`<dir>/results/<network>-<containerID>-<ifName>`),
 * under a directory of berthd's own state instead of the host's /var/lib/cni.
 * Files are replaced atomically (write, fsync, rename).
 */
export class ResultCache {
  readonly resultsDir: string;

  constructor(dir: string) {
    this.resultsDir = join(dir, 'results');
  }

  path(networkName: string, containerId: string, ifName: string): string {
    return join(this.resultsDir, `${networkName}-${containerId}-${ifName}`);
  }

  async write(entry: CacheEntry): Promise<void> {
    const file: CacheFile = {
      kind: 'cniCacheV1',
      containerId: entry.rt.containerId,
      config: Buffer.from(entry.network.bytes).toString('base64'),
      ifName: entry.rt.ifName,
      networkName: entry.network.name,
      netns: entry.rt.netns,
      cniArgs: entry.rt.args,
      capabilityArgs: entry.rt.capabilityArgs,
      ...(entry.result ? { result: entry.result } : {}),
    };
    const target = this.path(entry.network.name, entry.rt.containerId, entry.rt.ifName);
    await mkdir(this.resultsDir, { recursive: true, mode: 0o700 });
    const tmp = join(this.resultsDir, `.tmp-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(file));
      await fh.sync();
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    try {
      await rename(tmp, target);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }

  /** The entry, or undefined if there is none; data_loss if the file is unreadable as one. */
  async read(
    networkName: string,
    containerId: string,
    ifName: string,
  ): Promise<CacheEntry | undefined> {
    const path = this.path(networkName, containerId, ifName);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return decode(text, path);
  }

  async remove(networkName: string, containerId: string, ifName: string): Promise<void> {
    await unlink(this.path(networkName, containerId, ifName)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  /**
   * Every entry of `containerId`. Unreadable files are reported through
   * `onBad` and skipped: one damaged file must not stop a pod's teardown.
   */
  async list(
    containerId: string,
    onBad: (path: string, err: Error) => void,
  ): Promise<CacheEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.resultsDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: CacheEntry[] = [];
    for (const name of names.sort()) {
      if (!name.includes(`-${containerId}-`) || name.startsWith('.')) continue;
      const path = join(this.resultsDir, name);
      try {
        const entry = decode(await readFile(path, 'utf8'), path);
        if (entry.rt.containerId === containerId) out.push(entry);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        onBad(path, e as Error);
      }
    }
    return out;
  }
}

function decode(text: string, path: string): CacheEntry {
  let f: Partial<CacheFile>;
  try {
    f = JSON.parse(text);
  } catch (e) {
    throw dataLoss(`cni cache ${path}: not JSON: ${(e as Error).message}`);
  }
  if (
    f?.kind !== 'cniCacheV1' ||
    typeof f.containerId !== 'string' ||
    typeof f.ifName !== 'string' ||
    typeof f.config !== 'string'
  ) {
    throw dataLoss(`cni cache ${path}: not a cniCacheV1 entry`);
  }
  let network: NetworkConfigList;
  try {
    network = parseConfList(Buffer.from(f.config, 'base64').toString('utf8'), path);
  } catch (e) {
    throw dataLoss(`cni cache ${path}: bad network config: ${(e as Error).message}`, { cause: e });
  }
  const rt: RuntimeConf = {
    containerId: f.containerId,
    netns: typeof f.netns === 'string' ? f.netns : '',
    ifName: f.ifName,
    args: Array.isArray(f.cniArgs) ? f.cniArgs : [],
    capabilityArgs:
      f.capabilityArgs && typeof f.capabilityArgs === 'object' ? f.capabilityArgs : {},
  };
  let result: CniResult | undefined;
  if (f.result !== undefined) {
    try {
      result = parseResult(f.result, network.cniVersion, `cni cache ${path}`);
    } catch (e) {
      throw dataLoss((e as Error).message, { cause: e });
    }
  }
  return { network, rt, ...(result ? { result } : {}) };
}
