import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMANDS } from '../../src/cli/commands.js';
import { CliEnv } from '../helpers/cli-env.js';
import { busyboxImage } from '../helpers/images.js';

const root = process.getuid?.() === 0;

/** The one line berth prints on stderr for a failure (`berth: …`). */
function oneLine(stderr: string, context: string): string {
  const lines = stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${context}: exactly one line on stderr, got:\n${stderr}`);
  assert.ok(stderr.endsWith('\n'), `${context}: the line ends with a newline`);
  return lines[0] as string;
}

interface Failure {
  what: string;
  args: (image: string) => string[];
  code: number;
  /** What the line must name. */
  names: RegExp;
}

/**
 * docker's exit codes: 125 when berth itself fails, 126 when the command
 * cannot be invoked, 127 when it is not found, else the container's own.
 * Each failure prints one line on stderr that names what failed.
 */
const FAILURES: Failure[] = [
  { what: 'an unknown command', args: () => ['frobnicate'], code: 125, names: /frobnicate/ },
  { what: 'an unknown flag', args: () => ['ps', '--frobnicate'], code: 125, names: /--frobnicate/ },
  {
    what: 'an unknown shorthand flag',
    args: () => ['ps', '-Z'],
    code: 125,
    names: /'Z'/,
  },
  { what: 'a missing argument', args: () => ['rm'], code: 125, names: /"berth (container )?rm"/ },
  {
    what: 'a flag without its value',
    args: () => ['run', '--name'],
    code: 125,
    names: /--name/,
  },
  {
    what: 'no such container (stop)',
    args: () => ['stop', 'no-such-ctr'],
    code: 125,
    names: /No such container: no-such-ctr/,
  },
  {
    what: 'no such container (logs)',
    args: () => ['logs', 'no-such-ctr'],
    code: 125,
    names: /No such container: no-such-ctr/,
  },
  {
    what: 'no such container (exec)',
    args: () => ['exec', 'no-such-ctr', 'true'],
    code: 125,
    names: /No such container: no-such-ctr/,
  },
  {
    what: 'no such object (inspect)',
    args: () => ['inspect', 'no-such-thing'],
    code: 125,
    names: /no-such-thing/,
  },
  {
    what: 'no such image (rmi)',
    args: () => ['rmi', 'no-such-image:v9'],
    code: 125,
    names: /no-such-image:v9/,
  },
  {
    what: 'no such image (run --pull never)',
    args: () => ['run', '--rm', '--pull', 'never', 'no-such-image:v9', 'true'],
    code: 125,
    names: /no-such-image:v9/,
  },
  {
    what: 'a bad -p spec',
    args: (image) => ['run', '--rm', '-p', '127.0.0.1:99999:80', image, 'true'],
    code: 125,
    names: /99999/,
  },
  {
    what: 'a bad --restart',
    args: (image) => ['run', '--rm', '--restart', 'sometimes', image, 'true'],
    code: 125,
    names: /sometimes/,
  },
  {
    what: '--rm with a restart policy',
    args: (image) => ['run', '--rm', '--restart', 'always', image, 'true'],
    code: 125,
    names: /--rm/,
  },
  {
    what: 'run of a command not in the image',
    args: (image) => ['run', '--rm', image, 'no-such-cmd'],
    code: 127,
    names: /no-such-cmd/,
  },
  {
    what: 'run of a file that is not executable',
    args: (image) => ['run', '--rm', image, '/not-executable'],
    code: 126,
    names: /\/not-executable/,
  },
  {
    what: 'exec of a command not in the container',
    args: () => ['exec', 'ctr1', 'no-such-cmd'],
    code: 127,
    names: /no-such-cmd/,
  },
  {
    what: 'exec of a file that is not executable',
    args: () => ['exec', 'ctr1', '/not-executable'],
    code: 126,
    names: /\/not-executable/,
  },
  {
    what: 'an unreachable daemon',
    args: () => ['--address', '/nonexistent/berth.sock', 'ps'],
    code: 125,
    names: /\/nonexistent\/berth\.sock/,
  },
];

/**
 * How to make each command that has `--format` print something, and what
 * it prints: `lines` (JSON lines: lists, and single objects like version)
 * or `array` (inspect). A command with `--format` missing here fails the
 * test, so a new one is not left out.
 */
interface FormatCase {
  args: (image: string) => string[];
  kind: 'lines' | 'array';
  min: number;
  /** Run while the command runs (for events, which only streams what happens). */
  during?: (cli: CliEnv['cli'], image: string) => Promise<void>;
}

const FORMATS: Record<string, FormatCase> = {
  'container ls': { args: () => ['ps', '-a'], kind: 'lines', min: 2 },
  'image ls': { args: () => ['images'], kind: 'lines', min: 1 },
  'container inspect': {
    args: () => ['container', 'inspect', 'ctr1', 'ctr2'],
    kind: 'array',
    min: 2,
  },
  'image inspect': { args: (image) => ['image', 'inspect', image], kind: 'array', min: 1 },
  inspect: { args: (image) => ['inspect', 'ctr1', image], kind: 'array', min: 2 },
  version: { args: () => ['version'], kind: 'lines', min: 1 },
  'system info': { args: () => ['info'], kind: 'lines', min: 1 },
  'container stats': { args: () => ['stats', '--no-stream'], kind: 'lines', min: 1 },
  'namespace ls': { args: () => ['namespace', 'ls'], kind: 'lines', min: 1 },
  // containerd keeps no history of events: stream for a while, and make some.
  'system events': {
    args: () => ['events', '--until', '4s'],
    kind: 'lines',
    min: 2,
    during: async (cli, image) => {
      await new Promise((r) => setTimeout(r, 1500));
      await cli.ok(['tag', image, 'berth/contract:events']);
      await cli.ok(['rmi', 'berth/contract:events']);
    },
  },
};

describe("berth's contract with scripts", { skip: !root && 'needs root' }, () => {
  let env: CliEnv;
  let image: string;

  before(async () => {
    env = await CliEnv.start();
    const spec = busyboxImage();
    spec.layers.push({
      createdBy: 'a file without x bits',
      entries: [{ type: 'file', path: 'not-executable', content: 'echo hi\n', mode: 0o644 }],
    });
    image = await env.image(spec, 'berth/contract:v1');
    await env.cli.ok(['run', '-d', '--name', 'ctr1', image, 'sleep', '1000']);
    await env.cli.ok(['create', '--name', 'ctr2', image, 'true']);
  });
  after(async () => {
    await env?.cleanup();
  });

  it('every command with --format prints JSON for --format json', async () => {
    const withFormat: string[] = [];
    for (const entry of COMMANDS) {
      if (entry.hidden) continue;
      const spec = await entry.load();
      if (spec.flags.some((f) => f.name === 'format')) withFormat.push(entry.path.join(' '));
    }
    const missing = withFormat.filter((p) => FORMATS[p] === undefined);
    assert.deepEqual(missing, [], 'commands with --format this test does not know');
    assert.ok(withFormat.length >= 5, `only ${withFormat.join(', ')}`);
    for (const path of withFormat) {
      const f = FORMATS[path] as FormatCase;
      const args = [...f.args(image), '--format', 'json'];
      const [r] = await Promise.all([
        env.cli.run(args, { timeoutMs: 30_000 }),
        f.during?.(env.cli, image),
      ]);
      const shown = `berth ${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`;
      assert.equal(r.code, 0, shown);
      assert.ok(r.stdout.endsWith('\n'), shown);
      if (f.kind === 'array') {
        const v = JSON.parse(r.stdout) as unknown;
        assert.ok(Array.isArray(v), `${shown}\nnot an array`);
        assert.ok(v.length >= f.min, shown);
        for (const o of v) assert.equal(typeof o, 'object', shown);
      } else {
        const lines = r.stdout.split('\n').filter((l) => l !== '');
        assert.ok(lines.length >= f.min, shown);
        for (const l of lines) {
          const o = JSON.parse(l) as unknown;
          assert.ok(
            o !== null && typeof o === 'object' && !Array.isArray(o),
            `${shown}\nline ${l}`,
          );
        }
      }
    }
  });

  it('a list --format json is one object per item, with the table columns as keys', async () => {
    const rows = (await env.cli.ok(['ps', '-a', '--format', 'json']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows.map((r) => r.Names).sort(), ['ctr1', 'ctr2']);
    for (const key of [
      'ID',
      'Image',
      'Command',
      'CreatedAt',
      'Status',
      'Ports',
      'Names',
      'State',
    ]) {
      assert.ok(key in (rows[0] as object), `key ${key} in ${JSON.stringify(rows[0])}`);
    }
    const names = await env.cli.ok(['ps', '-a', '--format', '{{.Names}}']);
    assert.deepEqual(names.trim().split('\n').sort(), ['ctr1', 'ctr2']);
  });

  for (const f of FAILURES) {
    it(`${f.what}: exit ${f.code}, one line naming it`, async () => {
      const args = f.args(image);
      const r = await env.cli.run(args, { timeoutMs: 60_000 });
      const shown = `berth ${args.join(' ')}: exit ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`;
      assert.equal(r.code, f.code, shown);
      const line = oneLine(r.stderr, shown);
      assert.match(line, f.names, shown);
      assert.equal(r.stdout, '', `${shown}\nnothing on stdout`);
    });
  }

  it("the container's own exit code, with nothing from berth", async () => {
    const r = await env.cli.run(['run', '--rm', image, 'sh', '-c', 'exit 42']);
    assert.equal(r.code, 42, r.stderr);
    assert.equal(r.stderr, '');
    const e = await env.cli.run(['exec', 'ctr1', 'sh', '-c', 'exit 43']);
    assert.equal(e.code, 43, e.stderr);
    assert.equal(e.stderr, '');
  });

  it('failed runs leave no container behind', async () => {
    const names = (await env.cli.ok(['ps', '-a', '--format', '{{.Names}}'])).trim().split('\n');
    assert.deepEqual(names.sort(), ['ctr1', 'ctr2']);
  });
});
