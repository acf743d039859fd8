import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';

const CNI_BIN = '/usr/lib/cni';
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !['bridge', 'host-local', 'portmap', 'firewall', 'loopback'].every((p) =>
          existsSync(join(CNI_BIN, p)),
        )
      ? `needs containernetworking-plugins in ${CNI_BIN}`
      : false;

/**
 * The default network as berth writes it (gateway, masquerade, portmap,
 * firewall): these change the host's ip_forward, FORWARD and POSTROUTING,
 * so the whole scenario runs in a network namespace of its own (`unshare
 * -n`), where all of that is the test's, and reports what it saw as JSON.
 */
const SCENARIO = `
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { defaultNetworkConflist, DEFAULT_CONFLIST_FILE } from '@CONFLIST@';
import { runOciHook } from '@HOOK@';
import { containerNetworkInfo, pinnedNetnsPath } from '@ATTACH@';
const [tmp, bridge, subnet] = process.argv.slice(2);
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' });
sh('ip', ['link', 'set', 'lo', 'up']);
const flags = { dataRoot: join(tmp, 'data'), cniPath: '${CNI_BIN}', cniConfDir: join(tmp, 'net.d'), namespace: 'default' };
mkdirSync(flags.cniConfDir, { recursive: true });
writeFileSync(join(flags.cniConfDir, DEFAULT_CONFLIST_FILE), JSON.stringify(defaultNetworkConflist({ bridge, subnet, ipamDataDir: join(tmp, 'ipam') })));
const p = spawn('unshare', ['-n', 'sleep', '60'], { stdio: 'ignore' });
const own = readlinkSync('/proc/self/ns/net');
while (readlinkSync('/proc/' + p.pid + '/ns/net') === own) await new Promise((r) => setTimeout(r, 10));
const state = (pid, annotations) => Readable.from([JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid, bundle: tmp, annotations })]);
const ports = [{ hostIP: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
await runOciHook('createRuntime', flags, state(p.pid, { 'berth/network': 'bridge', 'berth/ports': JSON.stringify(ports) }));
const during = { rules: sh('iptables-save', []), forward: sh('sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), info: await containerNetworkInfo(flags, 'default', 'c1'), links: sh('ip', ['-o', 'link', 'show', 'master', bridge]) };
p.kill('SIGKILL');
await new Promise((r) => p.once('exit', r));
await runOciHook('postStop', flags, state(0, {}));
const results = join(flags.dataRoot, 'cni', 'results');
const ipam = join(tmp, 'ipam', 'bridge');
const afterStop = { rules: sh('iptables-save', []), links: sh('ip', ['-o', 'link', 'show', 'master', bridge]), cache: existsSync(results) ? readdirSync(results) : [], ipam: existsSync(ipam) ? readdirSync(ipam).filter((f) => /^[0-9.]+$/.test(f)) : [], pinned: existsSync(pinnedNetnsPath(flags, 'default', 'c1')) };
console.log(JSON.stringify({ during, after: afterStop }));
`;

describe('the default bridge network, in a network namespace of its own', { skip }, () => {
  let tmp: TempDir;
  before(() => {
    tmp = tempDir();
  });
  after(() => tmp.remove());

  it('gateway, masquerade, DNAT and FORWARD rules on createRuntime; not one rule of the container left after postStop', async () => {
    const tag = randomBytes(3).toString('hex');
    const bridge = `brt${tag}`;
    const net = `10.${200 + ((randomBytes(1)[0] as number) % 51)}.${randomBytes(1)[0]}.`;
    const script = join(tmp.path, 'scenario.mjs');
    const here = (f: string) =>
      JSON.stringify(fileURLToPath(new URL(f, import.meta.url))).slice(1, -1);
    writeFileSync(
      script,
      SCENARIO.replace('@CONFLIST@', here('./conflist.ts'))
        .replace('@HOOK@', here('./hook.ts'))
        .replace('@ATTACH@', here('./attach.ts')),
    );
    const tsx = fileURLToPath(import.meta.resolve('tsx'));
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        'unshare',
        ['-n', process.execPath, '--import', tsx, script, tmp.path, bridge, `${net}0/24`],
        { encoding: 'utf8', timeout: 60_000 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    const r = JSON.parse(out.trim().split('\n').at(-1) as string);
    const ip: string = r.during.info.ipAddress;
    assert.ok(ip.startsWith(net), `${ip} in ${net}0/24`);
    assert.equal(r.during.info.gateway, `${net}1`);
    assert.equal(r.during.forward, '1', 'isGateway turns forwarding on (in this netns only)');
    assert.match(r.during.links, /veth/);
    const rules: string[] = r.during.rules.split('\n');
    const about = (lines: string[]) =>
      lines.filter((l) => l.startsWith('-A') && (l.includes(ip) || l.includes('default-c1')));
    assert.ok(
      rules.some(
        (l) =>
          l.startsWith('-A POSTROUTING') && l.includes(`-s ${ip}/32`) && l.includes('default-c1'),
      ),
      'the masquerade jump for the container',
    );
    assert.ok(
      rules.some((l) => l.includes(`--to-destination ${ip}:80`) && l.includes('--dport 8080')),
    );
    assert.ok(
      rules.some((l) => l.startsWith('-A CNI-FORWARD') && l.includes(ip)),
      'firewall: FORWARD accepts',
    );
    assert.ok(about(rules).length >= 4, about(rules).join('\n'));

    assert.deepEqual(about(r.after.rules.split('\n')), [], 'no rule about the container remains');
    assert.doesNotMatch(r.after.rules, /^:CNI-[0-9a-f]{24} /m, 'no per-container chain remains');
    assert.equal(r.after.links.trim(), '');
    assert.deepEqual(r.after.cache, []);
    assert.deepEqual(r.after.ipam, []);
    assert.equal(r.after.pinned, false);
  });
});
