/**
 * @module
 * The RuntimeService's questions about the runtime itself, as containerd
 * 1.6's CRI plugin answers them: Version, Status (RuntimeReady and
 * NetworkReady) and UpdateRuntimeConfig (the pod CIDR, written into the CNI
 * config from `cni.conf_template` while no network config is there).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import type {
  StatusRequest,
  StatusResponse,
  UpdateRuntimeConfigRequest,
  UpdateRuntimeConfigResponse,
  VersionRequest,
  VersionResponse,
} from '../api/k8s/cri/runtime/v1/api.js';
import { failedPrecondition, invalidArgument } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { type Handler, unary } from '../server/service.js';
import type { CriConfig } from './config.js';

/** The CRI API version string kubelet sends and containerd answers (`version`). */
export const KUBE_API_VERSION = '0.1.0';
/** The CRI version served (`runtime_api_version`). */
export const CRI_API_VERSION = 'v1';
export const RUNTIME_NAME = 'berth';
/** Condition types and the reason containerd gives for a network that is not ready. */
export const RUNTIME_READY = 'RuntimeReady';
export const NETWORK_READY = 'NetworkReady';
export const NETWORK_NOT_READY_REASON = 'NetworkPluginNotReady';
/** The file UpdateRuntimeConfig writes from the template (containerd's name). */
export const TEMPLATE_CONF_FILE = '10-containerd-net.conflist';

export interface NetworkStatus {
  ready: boolean;
  /** Why not, when not ready (the CNI part's words). */
  message: string;
}

export interface RuntimeStatusOptions {
  /** berth's version (`runtime_version`). */
  version: string;
  config: CriConfig;
  /** The default pod network's state (the CNI part re-reads its conf dir). */
  networkStatus(): NetworkStatus;
  /** More `Status(verbose)` info: e.g. `cniconfig` (the loaded network config as JSON). */
  verboseInfo?(): Record<string, string>;
  /** What `Status(verbose)` shows under `config` besides the plugin config (root and state dirs). */
  dirs?: Record<string, string>;
}

export function version(opts: Pick<RuntimeStatusOptions, 'version'>): VersionResponse {
  return {
    version: KUBE_API_VERSION,
    runtimeName: RUNTIME_NAME,
    runtimeVersion: opts.version,
    runtimeApiVersion: CRI_API_VERSION,
  };
}

export function status(opts: RuntimeStatusOptions, req: StatusRequest): StatusResponse {
  const net = opts.networkStatus();
  const res: StatusResponse = {
    status: {
      conditions: [
        // The plugin answers, so the runtime is ready (as containerd reasons).
        { type: RUNTIME_READY, status: true, reason: '', message: '' },
        net.ready
          ? { type: NETWORK_READY, status: true, reason: '', message: '' }
          : {
              type: NETWORK_READY,
              status: false,
              reason: NETWORK_NOT_READY_REASON,
              message: `Network plugin returns error: ${net.message}`,
            },
      ],
    },
    info: {},
  };
  if (req.verbose) {
    res.info.config = JSON.stringify({ ...redacted(opts.config), ...opts.dirs });
    res.info.node = JSON.stringify(process.version);
    res.info.lastCNILoadStatus = net.ready ? 'OK' : net.message;
    Object.assign(res.info, opts.verboseInfo?.() ?? {});
  }
  return res;
}

/** The config without registry secrets (containerd shows them; berth names only the hosts). */
function redacted(config: CriConfig): CriConfig {
  const auths = Object.fromEntries(
    Object.keys(config.registry.auths).map((host) => [
      host,
      {
        username: '<redacted>',
        password: '<redacted>',
        auth: '<redacted>',
        identityToken: '<redacted>',
      },
    ]),
  );
  return { ...config, registry: { ...config.registry, auths } };
}

/** The default routes for pod CIDRs: one per address family (containerd's getRoutes). */
export function podRoutes(cidrs: readonly string[]): string[] {
  const routes = new Set<string>();
  for (const cidr of cidrs) {
    const [ip, bits, extra] = cidr.split('/');
    const n = Number(bits);
    if (ip === undefined || extra !== undefined || !/^\d+$/.test(bits ?? '')) {
      throw invalidArgument(`pod CIDR ${JSON.stringify(cidr)}: not an address/prefix`);
    }
    if (isIPv4(ip) && n <= 32) routes.add('0.0.0.0/0');
    else if (isIPv6(ip) && n <= 128) routes.add('::/0');
    else throw invalidArgument(`pod CIDR ${JSON.stringify(cidr)}: not an address/prefix`);
  }
  return [...routes];
}

/**
 * Renders containerd's CNI config template: `{{.PodCIDR}}` (the first
 * CIDR), and the lists `{{range $i, $v := .PodCIDRRanges}}…{{end}}` and
 * `{{range $i, $v := .Routes}}…{{end}}` whose bodies may use `{{$v}}` and
 * `{{if $i}}…{{end}}` (text for all but the first item), the forms
 * containerd's documented template uses. Any other action is
 * `failed_precondition`: berth does not run Go templates.
 */
export function renderConfTemplate(
  text: string,
  data: { podCIDR: string; podCIDRRanges: string[]; routes: string[] },
  file: string,
): string {
  const unsupported = (action: string) =>
    failedPrecondition(
      `cni conf_template ${JSON.stringify(file)}: ${action} is not supported (only .PodCIDR, and range over .PodCIDRRanges / .Routes)`,
    );
  // Ranges first: their bodies hold `{{if $i}}…{{end}}`, matched innermost-out below.
  let out = '';
  let last = 0;
  const ranges = /\{\{\s*range\s+\$(\w+)\s*,\s*\$(\w+)\s*:=\s*\.(PodCIDRRanges|Routes)\s*\}\}/g;
  for (let m = ranges.exec(text); m !== null; m = ranges.exec(text)) {
    const [whole, idx, val, list] = m as unknown as [string, string, string, string];
    const bodyStart = m.index + whole.length;
    const end = findRangeEnd(text, bodyStart);
    if (end === undefined) throw unsupported('a range without its end');
    const body = text.slice(bodyStart, end.at);
    const items = list === 'Routes' ? data.routes : data.podCIDRRanges;
    out += text.slice(last, m.index);
    out += items.map((item, i) => renderBody(body, idx, val, i, item, unsupported)).join('');
    last = end.after;
    ranges.lastIndex = end.after;
  }
  out += text.slice(last);
  return out.replace(/\{\{([\s\S]*?)\}\}/g, (_, action: string) => {
    if (action.trim() === '.PodCIDR') return data.podCIDR;
    throw unsupported(`{{${action}}}`);
  });
}

/** Where the `{{end}}` closing a range body starting at `from` is (counting nested ifs). */
function findRangeEnd(text: string, from: number): { at: number; after: number } | undefined {
  const re = /\{\{\s*(if\b[^}]*|end)\s*\}\}/g;
  re.lastIndex = from;
  let depth = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if ((m[1] as string).startsWith('if')) depth++;
    else if (depth === 0) return { at: m.index, after: m.index + m[0].length };
    else depth--;
  }
  return undefined;
}

function renderBody(
  body: string,
  idx: string,
  val: string,
  i: number,
  item: string,
  unsupported: (action: string) => Error,
): string {
  const ifRe = new RegExp(
    `\\{\\{\\s*if\\s+\\$${idx}\\s*\\}\\}([\\s\\S]*?)\\{\\{\\s*end\\s*\\}\\}`,
    'g',
  );
  return body
    .replace(ifRe, (_, inner: string) => (i > 0 ? inner : ''))
    .replace(/\{\{([\s\S]*?)\}\}/g, (_, action: string) => {
      if (action.trim() === `$${val}`) return item;
      throw unsupported(`{{${action}}}`);
    });
}

/**
 * containerd's UpdateRuntimeConfig: with a pod CIDR and a `conf_template`,
 * writes `<conf_dir>/10-containerd-net.conflist` from the template while
 * the network is not ready; otherwise it only logs what it does not do.
 */
export async function updateRuntimeConfig(
  ctx: OpContext,
  opts: RuntimeStatusOptions,
  req: UpdateRuntimeConfigRequest,
  log: Logger = ctx.log,
): Promise<UpdateRuntimeConfigResponse> {
  const podCidr = req.runtimeConfig?.networkConfig?.podCidr ?? '';
  if (podCidr === '') return {};
  const cidrs = podCidr.split(',').map((s) => s.trim());
  const routes = podRoutes(cidrs);
  const template = opts.config.cni.confTemplate;
  if (template === '') {
    log.info(
      { podCidr },
      'no cni conf_template is configured: waiting for other components to write the network config',
    );
    return {};
  }
  if (opts.networkStatus().ready) {
    log.info({ template }, 'network plugin is ready: the config template is not used');
    return {};
  }
  const text = await readFile(template, 'utf8').catch((err: unknown) => {
    throw failedPrecondition(
      `read cni conf_template ${JSON.stringify(template)}: ${(err as Error).message}`,
      { cause: err },
    );
  });
  const rendered = renderConfTemplate(
    text,
    { podCIDR: cidrs[0] as string, podCIDRRanges: cidrs, routes },
    template,
  );
  const dir = opts.config.cni.confDir;
  await mkdir(dir, { recursive: true });
  const file = join(dir, TEMPLATE_CONF_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, rendered, { mode: 0o644 });
  await rename(tmp, file);
  log.info({ file, podCidr }, 'cni config written from the template');
  return {};
}

/** Version, Status and UpdateRuntimeConfig, keyed by their RuntimeService method names. */
export function runtimeStatusHandlers(opts: RuntimeStatusOptions): Record<string, Handler> {
  return {
    Version: unary((_ctx, _req: VersionRequest) => version(opts)),
    Status: unary((_ctx, req: StatusRequest) => status(opts, req)),
    UpdateRuntimeConfig: unary((ctx, req: UpdateRuntimeConfigRequest) =>
      updateRuntimeConfig(ctx, opts, req),
    ),
  };
}
