import { type Dirent, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { invalidArgument } from '../core/errdefs/index.js';
import { isSupportedVersion, SUPPORTED_VERSIONS } from './version.js';

/** One plugin of a list: its configuration object as written, `type` checked. */
export interface PluginConf {
  type: string;
  /** The plugin's declared capabilities (`portMappings`, `dns`, ...): only these get a `runtimeConfig` entry. */
  capabilities?: Record<string, boolean>;
  [k: string]: unknown;
}

/** A network: a list of chained plugins, as libcni's NetworkConfigList. */
export interface NetworkConfigList {
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  plugins: PluginConf[];
  /** The list as JSON: what the result cache keeps, so DEL runs what ADD ran. */
  bytes: string;
  /** Where it came from (a file path), for messages. */
  source: string;
}

/** The file name extensions libcni and go-cni read from a conf dir. */
export const CONF_EXTENSIONS = ['.conf', '.conflist', '.json'];

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(bytes: string, source: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes);
  } catch (e) {
    throw invalidArgument(`cni config ${source}: not JSON: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw invalidArgument(`cni config ${source}: not a JSON object`);
  return raw;
}

function checkPlugin(p: unknown, where: string): PluginConf {
  if (!isObject(p)) throw invalidArgument(`${where}: not a JSON object`);
  if (typeof p.type !== 'string' || p.type === '') {
    throw invalidArgument(`${where}: missing 'type'`);
  }
  if (p.type.includes('/') || p.type === '.' || p.type === '..') {
    throw invalidArgument(`${where}: invalid plugin type ${JSON.stringify(p.type)}`);
  }
  if (p.capabilities !== undefined) {
    const caps = p.capabilities;
    if (!isObject(caps) || Object.values(caps).some((v) => typeof v !== 'boolean')) {
      throw invalidArgument(`${where}: "capabilities" must map names to booleans`);
    }
  }
  return p as PluginConf;
}

function checkHeader(
  raw: Record<string, unknown>,
  source: string,
): { name: string; cniVersion: string } {
  const { name, cniVersion } = raw;
  if (typeof name !== 'string' || name === '') {
    throw invalidArgument(`cni config ${source}: missing network "name"`);
  }
  if (!NAME.test(name)) {
    throw invalidArgument(
      `cni config ${source}: invalid network name ${JSON.stringify(name)}: letters, digits, '_', '.' and '-' only, starting with a letter or digit`,
    );
  }
  if (typeof cniVersion !== 'string' || cniVersion === '') {
    throw invalidArgument(`cni config ${source}: missing "cniVersion"`);
  }
  if (!isSupportedVersion(cniVersion)) {
    throw invalidArgument(
      `cni config ${source}: unsupported cniVersion ${JSON.stringify(cniVersion)} (supported: ${SUPPORTED_VERSIONS.join(', ')})`,
    );
  }
  return { name, cniVersion };
}

/** Parses a `.conflist`: `{name, cniVersion, disableCheck?, plugins: [{type, ...}]}`. */
export function parseConfList(bytes: string, source: string): NetworkConfigList {
  const raw = parseJson(bytes, source);
  const { name, cniVersion } = checkHeader(raw, source);
  if (raw.disableCheck !== undefined && typeof raw.disableCheck !== 'boolean') {
    throw invalidArgument(`cni config ${source}: "disableCheck" is not a boolean`);
  }
  if (raw.plugins === undefined) throw invalidArgument(`cni config ${source}: no "plugins" list`);
  if (!Array.isArray(raw.plugins))
    throw invalidArgument(`cni config ${source}: "plugins" is not a list`);
  if (raw.plugins.length === 0) throw invalidArgument(`cni config ${source}: no plugins in list`);
  const plugins = raw.plugins.map((p, i) => checkPlugin(p, `cni config ${source}: plugins[${i}]`));
  return {
    name,
    cniVersion,
    disableCheck: raw.disableCheck === true,
    plugins,
    bytes: JSON.stringify({ ...raw, plugins }),
    source,
  };
}

/** Parses a single-plugin `.conf`/`.json` into a one-plugin list, as libcni's ConfListFromConf. */
export function parseConf(bytes: string, source: string): NetworkConfigList {
  const raw = parseJson(bytes, source);
  if (raw.plugins !== undefined) {
    throw invalidArgument(`cni config ${source}: has a "plugins" list: name it *.conflist`);
  }
  const { name, cniVersion } = checkHeader(raw, source);
  const plugin = checkPlugin(raw, `cni config ${source}`);
  return parseConfList(JSON.stringify({ name, cniVersion, plugins: [plugin] }), source);
}

/** Parses a conf file by its extension. */
export function parseConfFile(path: string): NetworkConfigList {
  let bytes: string;
  try {
    bytes = readFileSync(path, 'utf8');
  } catch (e) {
    throw invalidArgument(`cni config ${path}: ${(e as Error).message}`, { cause: e });
  }
  return path.endsWith('.conflist') ? parseConfList(bytes, path) : parseConf(bytes, path);
}

/** The conf files in `dir`, sorted by name as go-cni sorts them; none if `dir` is missing. */
export function confFiles(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return entries
    .filter((e) => !e.isDirectory() && CONF_EXTENSIONS.includes(extname(e.name)))
    .map((e) => e.name)
    .sort()
    .map((n) => join(dir, n));
}

/**
 * The default networks: the first `maxConfNum` conf files of `dir`, in
 * name order (maxConfNum <= 0 reads them all). As go-cni, an invalid file
 * fails the whole load (invalid_argument naming the file); an empty or
 * missing dir gives no networks.
 */
export function loadConfDir(dir: string, maxConfNum: number): NetworkConfigList[] {
  const files = confFiles(dir);
  const out: NetworkConfigList[] = [];
  for (const f of files) {
    out.push(parseConfFile(f));
    if (maxConfNum > 0 && out.length === maxConfNum) break;
  }
  return out;
}
