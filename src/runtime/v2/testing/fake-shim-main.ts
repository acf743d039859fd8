/**
 * The fake shim's executable (run through the launcher that
 * {@link FakeShimBinary} installs): `<fake dir> <shim flags…> start|delete`
 * as the manager runs a shim binary, and `<fake dir> serve <ns> <id> <socket>` for
 * the daemonised server `start` leaves behind. Test code only.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteResponse } from '../../../api/containerd/task/v2/shim.js';
import { nullLogger } from '../../../core/log/index.js';
import { nowNanos } from '../../../core/time/index.js';
import { groupAddress, isShimAlive, socketPathOf } from '../../../shim/group.js';
import { TtrpcServer } from '../../../ttrpc/index.js';
import { toTimestamp } from '../../../wire/timestamp.js';
import { FakeShim, type FakeShimScript } from './fake-shim.js';
import { fakeShimPaths } from './fake-shim-binary.js';

const [fakeDir = '', ...args] = process.argv.slice(2);
const paths = fakeShimPaths(fakeDir);

function script(id: string): FakeShimScript {
  if (!existsSync(paths.script)) return {};
  const all = JSON.parse(readFileSync(paths.script, 'utf8')) as Record<string, FakeShimScript>;
  return all[id] ?? {};
}

/** `-flag value` pairs before the command; `-debug` stands alone. */
function flags(argv: string[]): { values: Map<string, string>; command: string } {
  const values = new Map<string, string>();
  let i = 0;
  while (i < argv.length - 1) {
    const name = argv[i] ?? '';
    if (name === '-debug') {
      i += 1;
      continue;
    }
    values.set(name.replace(/^-+/, ''), argv[i + 1] ?? '');
    i += 2;
  }
  return { values, command: argv.at(-1) ?? '' };
}

async function start(ns: string, id: string, address: string): Promise<void> {
  const s = script(id);
  if (s.failStart !== undefined) {
    process.stderr.write(`${s.failStart}\n`);
    process.exit(1);
  }
  let sock = paths.socket(ns, id);
  if (s.group !== undefined) {
    sock = join(paths.groupDir, basename(socketPathOf(groupAddress(address, ns, s.group))));
    if (await isShimAlive(sock)) {
      process.stdout.write(`unix://${sock}\n`);
      return;
    }
  }
  if (s.startWithoutServing) {
    process.stdout.write(`unix://${sock}\n`);
    return;
  }
  const child = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1] ?? '', fakeDir, 'serve', ns, id, sock],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  for (let waited = 0; !existsSync(sock); waited += 20) {
    if (exited || waited > 20_000) {
      process.stderr.write(`fake shim server for ${ns}/${id} did not start\n`);
      process.exit(1);
    }
    await sleep(20);
  }
  process.stdout.write(`unix://${sock}\n`);
}

async function serve(ns: string, id: string, socket: string): Promise<void> {
  writeFileSync(join(paths.pids, String(process.pid)), `${ns}/${id}`);
  const server = new TtrpcServer({ log: nullLogger });
  new FakeShim({
    script,
    exit: () => {
      void server.close().then(() => process.exit(0));
    },
    // Abrupt, as a killed shim: the socket file stays behind.
    die: () => process.kill(process.pid, 'SIGKILL'),
  }).register(server);
  await server.listen(socket);
}

/** As the runc shim's cleanup: the container is gone (SIGKILL), its pid from `init.pid`. */
function deleteCommand(bundle: string): void {
  const pidFile = join(bundle, 'init.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
  process.stdout.write(
    DeleteResponse.encode({ pid, exitStatus: 128 + 9, exitedAt: toTimestamp(nowNanos()) }).finish(),
  );
}

if (args[0] === 'serve') {
  await serve(args[1] ?? '', args[2] ?? '', args[3] ?? '');
} else {
  const { values, command } = flags(args);
  const ns = values.get('namespace') ?? '';
  const id = values.get('id') ?? '';
  appendFileSync(paths.calls, `${command} ${ns} ${id}\n`);
  if (command === 'start') await start(ns, id, values.get('address') ?? '');
  else if (command === 'delete') deleteCommand(values.get('bundle') ?? process.cwd());
  else {
    process.stderr.write(`fake shim: unknown command ${command}\n`);
    process.exit(2);
  }
}
