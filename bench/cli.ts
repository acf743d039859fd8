/**
 * How fast `berth` is to type, against `ctr` and `node -e 0` on the same
 * berthd in the same run (issue 13's targets):
 *
 *   node --import tsx bench/cli.ts [--runs 20] [--containers 50] [--json]
 *     [--default-runtime io.containerd.runc.v2]
 *
 * 1. Start: `node -e 0`, `berth version --client` (no daemon: the client part)
 *    and `berth version` (with the daemon's answer), `ctr version`.
 * 2. Listing: --containers containers running (`berth run -d --network none`,
 *    so they carry berth's labels), then `berth ps` against `ctr tasks ls`
 *    followed by `ctr containers ls` (the two calls `berth ps` joins),
 *    `berth ps -a --format json`, and the same two calls from a node
 *    script of a few lines (no berth code: the floor for node).
 * 3. A container's life: `berth run --rm --network none <busybox> true`
 *    against `ctr run --rm <busybox> <id> true` (both: a new empty network
 *    namespace, the stock shim, runc), and `berth run --rm` on a bridge
 *    network of the bench's own (masquerading off), which adds the CNI
 *    plugins' work that ctr does not do.
 *
 * `--default-runtime`: berthd's default_runtime (berth's own shim unless
 * given). `ctr run` names io.containerd.runc.v2 itself; with that given
 * here, both sides of `run --rm` run the same shim, so the difference is
 * the command line's own.
 *
 * Each measure: one untimed warm-up, then --runs rounds alternating which
 * command goes first; wall clock of the whole process, median and p90.
 * Everything is removed afterwards and checked gone.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH } from '../test/helpers/berth-cli.js';
import { Berthd } from '../test/helpers/berthd.js';
import { PodNetwork } from '../test/helpers/cri-net.js';
import { buildAndPush, busyboxImage } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { tempDir } from '../test/helpers/tmp.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    containers: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
    'default-runtime': { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const CONTAINERS = Number(values.containers);
for (const [k, v] of Object.entries({ RUNS, CONTAINERS })) {
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`--${k.toLowerCase()} must be a positive integer`);
}

/** Runs a command to its end; resolves with its wall ms, rejects on a non-zero exit. */
function timed(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.CONTAINERD_ADDRESS;
    delete env.CONTAINERD_NAMESPACE;
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    p.stderr.on('data', (b: Buffer) => {
      if (err.length < 4000) err += b.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${err}`));
    });
  });
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  if (q === 0.5) {
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 1
      ? (s[mid] as number)
      : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  }
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
}

/**
 * The floor for `berth ps` from any node program: the same two calls
 * (Containers.List and Tasks.List of the default namespace, at once on one
 * connection), no berth code, output their size and exit. `NET` writes the
 * HTTP/2 frames itself on node:net (HPACK literals; it reads frame headers
 * only), `H2` uses node:http2. Run without NODE_EXTRA_CA_CERTS, as bin/berth
 * runs node. argv[1]: the socket.
 */
const FLOOR_NET = `const net=require('node:net');
const f=(t,fl,id,p)=>{const b=Buffer.alloc(9+p.length);b.writeUIntBE(p.length,0,3);b[3]=t;b[4]=fl;b.writeUInt32BE(id,5);p.copy(b,9);return b};
const lit=(k,v)=>Buffer.concat([Buffer.from([0,k.length]),Buffer.from(k),Buffer.from([v.length]),Buffer.from(v)]);
const req=(id,path)=>[f(1,4,id,Buffer.concat([[':method','POST'],[':scheme','http'],[':path',path],[':authority','localhost'],['content-type','application/grpc'],['te','trailers'],['containerd-namespace','default']].map(([k,v])=>lit(k,v)))),f(0,1,id,Buffer.alloc(5))];
const c=net.connect(process.argv[1]);
c.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n'),f(4,0,0,Buffer.from([0,4,0x7f,0xff,0xff,0xff])),f(8,0,0,Buffer.from([0x7f,0xff,0,0])),...req(1,'/containerd.services.containers.v1.Containers/List'),...req(3,'/containerd.services.tasks.v1.Tasks/List')]));
let buf=Buffer.alloc(0),ended=0,bytes=0;
c.on('data',(d)=>{buf=Buffer.concat([buf,d]);while(buf.length>=9){const n=buf.readUIntBE(0,3);if(buf.length<9+n)break;const t=buf[3],fl=buf[4];if(t===4&&!(fl&1))c.write(f(4,1,0,Buffer.alloc(0)));if(t===0)bytes+=n;if((t===0||t===1)&&fl&1)ended++;buf=buf.subarray(9+n)}if(ended===2){process.stdout.write(bytes+'\\n');process.exit(0)}});`;
const FLOOR_H2 = `const s=require('node:http2').connect('http://localhost',{createConnection:()=>require('node:net').connect(process.argv[1])});
let n=2,bytes=0;
for(const p of ['/containerd.services.containers.v1.Containers/List','/containerd.services.tasks.v1.Tasks/List']){const r=s.request({':method':'POST',':path':p,'content-type':'application/grpc',te:'trailers','containerd-namespace':'default'});r.on('data',(b)=>bytes+=b.length);r.on('end',()=>{if(--n===0){process.stdout.write(bytes+'\\n');process.exit(0)}});r.end(Buffer.alloc(5))}`;

interface Case {
  name: string;
  /** One or more commands run one after the other; the case's time is their sum. */
  cmds: (round: number) => [string, string[]][];
}

interface Stat {
  name: string;
  medianMs: number;
  p90Ms: number;
}

/** Runs the cases of one comparison, alternating their order each round, after one warm-up each. */
async function compare(cases: Case[]): Promise<Stat[]> {
  const runs = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const once = async (c: Case, round: number) => {
    let total = 0;
    for (const [cmd, args] of c.cmds(round)) total += await timed(cmd, args);
    return total;
  };
  for (const c of cases) await once(c, -1);
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 === 0 ? cases : [...cases].reverse();
    for (const c of order) runs.get(c.name)?.push(await once(c, r));
  }
  return cases.map((c) => {
    const xs = runs.get(c.name) ?? [];
    return { name: c.name, medianMs: quantile(xs, 0.5), p90Ms: quantile(xs, 0.9) };
  });
}

async function main(): Promise<void> {
  const work = tempDir('berth-bench-cli-');
  let registry: Registry | undefined;
  let daemon: Berthd | undefined;
  let net: PodNetwork | undefined;
  const log = (s: string) => {
    if (!values.json) console.error(s);
  };
  const results: Record<string, Stat[]> = {};
  try {
    registry = await Registry.start(work);
    const built = await buildAndPush(work, registry, busyboxImage(), 'bench/cli:1');
    const image = built.pushed.ref;
    const runtime = values['default-runtime'];
    daemon = await Berthd.start(
      runtime === undefined
        ? {}
        : {
            configToml: `version = 2\n[plugins."io.containerd.runtime.v2.task"]\n  default_runtime = ${JSON.stringify(runtime)}\n`,
          },
    );
    const socket = daemon.socket;
    const dataRoot = join(work.path, 'data');
    mkdirSync(join(work.path, 'net.d'), { recursive: true });
    mkdirSync(join(work.path, 'ipam'), { recursive: true });
    net = PodNetwork.create({
      confDir: join(work.path, 'net.d'),
      ipamDir: join(work.path, 'ipam'),
      name: 'bridge',
    });
    const g = ['--address', socket, '--data-root', dataRoot, '--cni-netconfpath', net.confDir];
    const berth = (...a: string[]): [string, string[]] => [BERTH, [...g, ...a]];
    const ctr = (...a: string[]): [string, string[]] => ['ctr', ['--address', socket, ...a]];
    await timed(...berth('pull', '-q', image));
    await registry.stop();
    registry = undefined;

    log('start …');
    results.start = await compare([
      { name: 'node -e 0', cmds: () => [['node', ['-e', '0']]] },
      // node parses NODE_EXTRA_CA_CERTS at every start (bin/berth spares it
      // that): the baseline without it, where the environment sets it.
      ...(process.env.NODE_EXTRA_CA_CERTS
        ? [
            {
              name: 'node -e 0 (no NODE_EXTRA_CA_CERTS)',
              cmds: (): [string, string[]][] => [
                ['env', ['-u', 'NODE_EXTRA_CA_CERTS', 'node', '-e', '0']],
              ],
            },
          ]
        : []),
      { name: 'berth version --client', cmds: () => [berth('version', '--client')] },
      { name: 'berth version', cmds: () => [berth('version')] },
      { name: 'ctr version', cmds: () => [ctr('version')] },
    ]);

    log(`${CONTAINERS} containers …`);
    for (let i = 0; i < CONTAINERS; i++) {
      await timed(
        ...berth('run', '-d', '--network', 'none', '--name', `c${i}`, image, 'sleep', '1000'),
      );
    }
    results.list = await compare([
      { name: 'berth ps', cmds: () => [berth('ps')] },
      {
        name: 'ctr tasks ls + ctr containers ls',
        cmds: () => [ctr('tasks', 'ls'), ctr('containers', 'ls')],
      },
      { name: 'berth ps -a --format json', cmds: () => [berth('ps', '-a', '--format', 'json')] },
      {
        name: 'node: the 2 calls, node:http2',
        cmds: () => [['env', ['-u', 'NODE_EXTRA_CA_CERTS', 'node', '-e', FLOOR_H2, socket]]],
      },
      {
        name: 'node: the 2 calls, frames on node:net',
        cmds: () => [['env', ['-u', 'NODE_EXTRA_CA_CERTS', 'node', '-e', FLOOR_NET, socket]]],
      },
    ]);
    for (let i = 0; i < CONTAINERS; i++) await timed(...berth('rm', '-f', `c${i}`));

    log('run --rm …');
    results.run = await compare([
      {
        name: 'berth run --rm --network none',
        cmds: () => [berth('run', '--rm', '--network', 'none', image, 'true')],
      },
      {
        name: 'ctr run --rm',
        cmds: (r) => [
          ctr('run', '--rm', image, `bench-${process.pid}-${r < 0 ? 'warm' : r}`, 'true'),
        ],
      },
      { name: 'berth run --rm (bridge)', cmds: () => [berth('run', '--rm', image, 'true')] },
    ]);

    // Nothing may be left: containers, tasks, IP allocations.
    const client = daemon.client('default');
    const containers = await client.containerService().list(client.context());
    client.close();
    const left = [
      ...containers.map((c) => `container ${c.id}`),
      ...net.allocatedIps().map((ip) => `IP ${ip}`),
      ...net.podChains().map((c) => `chain ${c}`),
    ];
    if (left.length > 0) throw new Error(`left after the bench:\n${left.join('\n')}`);

    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ runs: RUNS, containers: CONTAINERS, defaultRuntime: values['default-runtime'], results }, null, 2)}\n`,
      );
      return;
    }
    const ratio = (a: Stat[], n: string, d: string) => {
      const x = a.find((s) => s.name === n);
      const y = a.find((s) => s.name === d);
      return x && y ? (x.medianMs / y.medianMs).toFixed(2) : '?';
    };
    for (const [what, stats] of Object.entries(results)) {
      console.log(
        `\n${what} (${RUNS} runs, wall ms${values['default-runtime'] ? `, default runtime ${values['default-runtime']}` : ''})`,
      );
      for (const s of stats) {
        console.log(
          `  ${s.name.padEnd(36)} median ${s.medianMs.toFixed(0).padStart(5)}  p90 ${s.p90Ms.toFixed(0).padStart(5)}`,
        );
      }
    }
    const s = results.start ?? [];
    const l = results.list ?? [];
    const r = results.run ?? [];
    console.log('\nratios (medians)');
    console.log(
      `  berth version --client / node -e 0:                 ${ratio(s, 'berth version --client', 'node -e 0')} (target ≤ 1.3)`,
    );
    console.log(
      `  berth version / node -e 0:                          ${ratio(s, 'berth version', 'node -e 0')}`,
    );
    console.log(
      `  berth ps / (ctr tasks ls + ctr containers ls):      ${ratio(l, 'berth ps', 'ctr tasks ls + ctr containers ls')} (target ≤ 1.0)`,
    );
    console.log(
      `  berth run --rm --network none / ctr run --rm:       ${ratio(r, 'berth run --rm --network none', 'ctr run --rm')} (target ≤ 1.1)`,
    );
    console.log(
      `  berth run --rm (bridge) / ctr run --rm:             ${ratio(r, 'berth run --rm (bridge)', 'ctr run --rm')}`,
    );
  } finally {
    await registry?.stop();
    await daemon?.cleanup();
    net?.remove();
    work.remove();
  }
}

await main();
