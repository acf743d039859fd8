/**
 * The command line of containerd's shim protocol (pkg/shim's flags, Go's
 * flag package syntax: `-name value`, `-name=value`, `--name value`,
 * booleans `-debug` or `-debug=true`), then the action: `start`, `delete`,
 * or none (serve).
 */
export interface ShimFlags {
  namespace: string;
  id: string;
  /** containerd's gRPC socket (`-address`). */
  address: string;
  publishBinary: string;
  bundle: string;
  /** The ttrpc address to serve on (berth's `start` passes it to the daemon). */
  socket: string;
  debug: boolean;
  version: boolean;
  info: boolean;
  /**
   * berth's own: a spare daemon that berthd starts ahead of need and hands
   * its next new group to (src/shim/spare.ts); it has no group until then.
   */
  spare: boolean;
  action: '' | 'start' | 'delete';
}

const STRING_FLAGS: Record<string, keyof ShimFlags> = {
  namespace: 'namespace',
  id: 'id',
  address: 'address',
  'publish-binary': 'publishBinary',
  bundle: 'bundle',
  socket: 'socket',
};
const BOOL_FLAGS: Record<string, keyof ShimFlags> = {
  debug: 'debug',
  v: 'version',
  info: 'info',
  spare: 'spare',
};

export function parseFlags(argv: readonly string[]): ShimFlags {
  const f: ShimFlags = {
    namespace: '',
    id: '',
    address: '',
    publishBinary: '',
    bundle: '',
    socket: '',
    debug: false,
    version: false,
    info: false,
    spare: false,
    action: '',
  };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      rest.push(...argv.slice(i));
      break;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const s = STRING_FLAGS[name];
    if (s) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`flag needs an argument: -${name}`);
      (f as unknown as Record<string, string>)[s] = value;
      continue;
    }
    const b = BOOL_FLAGS[name];
    if (b) {
      (f as unknown as Record<string, boolean>)[b] =
        inline === undefined || inline === 'true' || inline === '1';
      continue;
    }
    throw new Error(`flag provided but not defined: -${name}`);
  }
  const action = rest[0] ?? '';
  if (action !== '' && action !== 'start' && action !== 'delete') {
    throw new Error(`unknown action ${JSON.stringify(action)}`);
  }
  f.action = action;
  return f;
}
