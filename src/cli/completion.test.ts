import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { COMMANDS } from './commands.js';
import {
  bashCompletion,
  type CompletionCommand,
  completionCommands,
  fishCompletion,
  zshCompletion,
} from './completion.js';

const CMDS: CompletionCommand[] = [
  {
    paths: [['container', 'ls'], ['ps']],
    summary: 'List containers',
    flags: [
      { name: 'all', short: 'a', type: 'bool', help: 'Show all' },
      { name: 'format', type: 'string', help: "Format ('json')" },
    ],
  },
  { paths: [['container', 'logs'], ['logs']], summary: 'Fetch logs', flags: [] },
  { paths: [['version']], summary: 'Show the version', flags: [] },
];

/** What bash completes for the words typed (the last one being completed). */
function complete(script: string, words: string[]): string[] {
  const r = spawnSync(
    'bash',
    [
      '-c',
      `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _berth; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '');
}

describe('completion', () => {
  it('bash completes commands, sub-commands and flags from the table', () => {
    const script = bashCompletion(CMDS);
    assert.equal(spawnSync('bash', ['-n'], { input: script }).status, 0);
    assert.deepEqual(complete(script, ['berth', '']), ['container', 'logs', 'ps', 'version']);
    assert.deepEqual(complete(script, ['berth', 'container', 'l']), ['logs', 'ls']);
    assert.deepEqual(complete(script, ['berth', '-n', 'ns', 'ps', '--f']), ['--format']);
    assert.deepEqual(complete(script, ['berth', 'container', 'ls', '-']).sort(), [
      '--all',
      '--format',
      '--help',
      '-a',
    ]);
    assert.ok(complete(script, ['berth', '--na']).includes('--namespace'));
  });

  it('zsh loads the bash script through bashcompinit; fish gets one line per word and flag', () => {
    assert.match(
      zshCompletion(CMDS),
      /^#compdef berth\n.*\nautoload -U \+X bashcompinit && bashcompinit\n/,
    );
    const fish = fishCompletion(CMDS);
    assert.match(fish, /complete -c berth -n __fish_use_subcommand -a 'ps' -d 'List containers'/);
    assert.match(
      fish,
      /complete -c berth -n '__fish_seen_subcommand_from container; and not __fish_seen_subcommand_from ls logs' -a 'ls'/,
    );
    assert.match(
      fish,
      /-n '__fish_seen_subcommand_from ps' -l format -r -d 'Format \(\\'json\\'\)'/,
    );
  });

  it("loads every visible command's flags, leaving hidden ones out", async () => {
    const cmds = await completionCommands(COMMANDS);
    const ps = cmds.find((c) => c.paths.some((p) => p.join(' ') === 'ps'));
    assert.ok(ps?.flags.some((f) => f.name === 'all'));
    assert.ok(!cmds.some((c) => c.paths.some((p) => p[0] === 'internal')));
  });
});
