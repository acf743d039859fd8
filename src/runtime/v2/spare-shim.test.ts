import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSpareOrder } from '../../shim/spare.js';
import type { ShimBinaryConfig } from './binary.js';
import { SPARE_NICE, SparePool, SpareShim } from './spare-shim.js';

/**
 * A stand-in for berth's shim in spare mode (`-spare`): records its argv,
 * waits for the order on fd 4, records it and answers on fd 3 what the
 * order's socket says (`ok`, `exists`, or an error text); ends, recording
 * that, when the order pipe ends first; it notes its nice value at its start
 * and when the order came. The real shim's side is tested end to end
 * (test/e2e/berth-shim-spare.e2e.test.ts).
 */
const FAKE = `#!/bin/sh
dir=$(dirname "$0")
echo "$$ $*" >> "$dir/argv"
cut -d' ' -f19 /proc/$$/stat > "$dir/idle-nice.$$" && mv "$dir/idle-nice.$$" "$dir/nice.$$"
if IFS= read -r order <&4; then
  printf '%s\\n' "$order" > "$dir/order.$$"
  cut -d' ' -f19 /proc/$$/stat >> "$dir/nice.$$"
  case "$order" in
    *'"socket":"unix:///ok"'*) echo ok >&3; exec sleep 30 3>&- 4<&- ;;
    *'"socket":"unix:///fails"'*) echo 'listen: permission denied' >&3 ;;
  esac
else
  echo "$$" >> "$dir/ended"
fi
`;

function cfg(): ShimBinaryConfig {
  return {
    address: '/run/test/berth.sock',
    ttrpcAddress: '/run/test/berth.sock.ttrpc',
    publishBinary: '/usr/bin/berthd',
    paths: {},
    debug: false,
    timeoutMs: 5000,
  };
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

describe('spare shims', () => {
  let dir: string;
  let binary: string;
  const pids: number[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-spare-test-'));
    binary = join(dir, 'containerd-shim-berth-v1');
    writeFileSync(binary, FAKE);
    chmodSync(binary, 0o755);
  });
  after(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  function bundle(name: string): string {
    const b = join(dir, name);
    mkdirSync(b);
    return b;
  }

  it('hands a group to the spare: the order, the answer, the bundle files', async () => {
    const spare = SpareShim.spawn(cfg(), binary, 0);
    assert.equal(spare.available, true);
    const b = bundle('b1');
    const pid = await spare.adopt(
      cfg(),
      { binary, namespace: 'ns1', id: 'c1', bundle: b },
      'unix:///ok',
    );
    pids.push(pid);
    assert.ok(pid > 0);
    assert.equal(spare.available, false);
    assert.match(
      read(join(dir, 'argv')),
      new RegExp(
        `^${pid} -spare -address /run/test/berth.sock -publish-binary /usr/bin/berthd$`,
        'm',
      ),
    );
    const order = parseSpareOrder(read(join(dir, `order.${pid}`)).trim());
    assert.deepEqual(order, {
      namespace: 'ns1',
      id: 'c1',
      address: '/run/test/berth.sock',
      publishBinary: '/usr/bin/berthd',
      socket: 'unix:///ok',
      log: '',
    });
    assert.equal(read(join(b, 'address')), 'unix:///ok');
    assert.equal(read(join(b, 'shim.pid')), String(pid));
  });

  it("names the bundle's log FIFO when there is one", async () => {
    const spare = SpareShim.spawn(cfg(), binary, 0);
    const b = bundle('b2');
    writeFileSync(join(b, 'log'), '');
    const pid = await spare.adopt(
      cfg(),
      { binary, namespace: 'n', id: 'c2', bundle: b },
      'unix:///ok',
    );
    pids.push(pid);
    assert.equal(parseSpareOrder(read(join(dir, `order.${pid}`)).trim()).log, join(b, 'log'));
  });

  it("rejects with the spare's own error", async () => {
    const spare = SpareShim.spawn(cfg(), binary, 0);
    await assert.rejects(
      spare.adopt(
        cfg(),
        { binary, namespace: 'n', id: 'c3', bundle: bundle('b3') },
        'unix:///fails',
      ),
      /shim daemon failed: listen: permission denied/,
    );
  });

  it('rejects when the spare ends without an answer', async () => {
    const spare = SpareShim.spawn(cfg(), binary, 0);
    await assert.rejects(
      spare.adopt(
        cfg(),
        { binary, namespace: 'n', id: 'c4', bundle: bundle('b4') },
        'unix:///silent',
      ),
      /exited before listening/,
    );
  });

  it("starts a spare at the lowest priority and gives it berthd's before the order", {
    skip: process.getuid?.() !== 0 && 'lowering a nice value takes CAP_SYS_NICE',
  }, async () => {
    const niceFiles = () => readdirSync(dir).filter((n) => n.startsWith('nice.'));
    const before = niceFiles().length;
    const spare = SpareShim.spawn(cfg(), binary);
    await waitFor('the idle spare to note its nice value', () => niceFiles().length > before);
    const pid = await spare.adopt(
      cfg(),
      { binary, namespace: 'n', id: 'c5', bundle: bundle('b5') },
      'unix:///ok',
    );
    pids.push(pid);
    const own = getPriority();
    assert.deepEqual(
      read(join(dir, `nice.${pid}`))
        .trim()
        .split('\n')
        .map(Number),
      [Math.min(own + SPARE_NICE, 19), own],
    );
  });

  it('close ends a spare that has no group', async () => {
    const before = read(join(dir, 'ended')).split('\n').filter(Boolean).length;
    const spare = SpareShim.spawn(cfg(), binary, 0);
    spare.close();
    await waitFor(
      'the spare to end',
      () => read(join(dir, 'ended')).split('\n').filter(Boolean).length > before,
    );
  });

  it('the pool keeps one spare: take hands it out, the next starts after the delay', async () => {
    let binaryNow: string | undefined = binary;
    const noLog = { warn() {}, debug() {} } as unknown as ConstructorParameters<
      typeof SparePool
    >[2];
    const pool = new SparePool(cfg(), () => binaryNow, noLog, 50);
    try {
      assert.equal(pool.take(binary), undefined, 'none before the first fill');
      await new Promise((r) => setTimeout(r, 150));
      const first = pool.take(binary);
      assert.ok(first, 'the refill after a take');
      assert.equal(pool.take(binary), undefined, 'one spare at a time');
      await new Promise((r) => setTimeout(r, 150));
      // A spare of another binary is not handed out (and ends).
      assert.equal(pool.take('/other/containerd-shim-berth-v1'), undefined);
      binaryNow = undefined;
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(pool.take(binary), undefined, 'no binary, no spare');
      first?.close();
    } finally {
      pool.close();
    }
  });
});
