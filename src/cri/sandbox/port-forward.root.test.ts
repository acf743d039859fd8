import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Duplex, PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { isUnavailable } from '../../core/errdefs/index.js';
import { createNetns, removeNetns } from '../../sys/netns.js';
import { dialInNetns, pipeBoth } from './port-forward.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

describe('port-forward into a network namespace', { skip }, () => {
  let dir: TempDir;
  let netns: string;
  let server: ChildProcess;
  let port: number;

  before(async () => {
    dir = tempDir('berth-pf-');
    netns = await createNetns(dir.path);
    execFileSync('nsenter', [`--net=${netns}`, 'ip', 'link', 'set', 'lo', 'up']);
    // An echo server that exists only inside the namespace, on a port the kernel picks.
    server = spawn(
      'nsenter',
      [
        `--net=${netns}`,
        process.execPath,
        '-e',
        "const s=require('net').createServer(c=>c.pipe(c)).listen(0,'127.0.0.1',()=>console.log(s.address().port))",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [line] = (await once(server.stdout!, 'data')) as [Buffer];
    port = Number(line.toString().trim());
  });

  after(async () => {
    server?.kill('SIGKILL');
    if (netns !== undefined) await removeNetns(netns, dir.path);
    dir?.remove();
  });

  test('connects to localhost inside the namespace and pipes both ways', async () => {
    const socket = await dialInNetns(netns, port);
    const toPod = new PassThrough();
    const fromPod = new PassThrough();
    const client = Duplex.from({ readable: toPod, writable: fromPod });
    const done = pipeBoth(client, socket);
    toPod.write('hello pod\n');
    const [echo] = (await once(fromPod, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'hello pod\n');
    toPod.end();
    await done;
  });

  test('a closed port is unavailable with ECONNREFUSED; the host namespace is not used', async () => {
    await assert.rejects(dialInNetns(netns, port === 65535 ? 65534 : port + 1), (err: Error) => {
      return isUnavailable(err) && /ECONNREFUSED/.test(err.message);
    });
  });

  test('a bad port is refused before any thread starts', async () => {
    await assert.rejects(dialInNetns(netns, 0), /not a valid TCP port/);
  });
});
