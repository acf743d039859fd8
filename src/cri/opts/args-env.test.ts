import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { resolveProcessArgs } from './container-spec.js';
import { replaceOrAppendEnv } from './defaults.js';

describe('resolveProcessArgs (containerd WithProcessArgs)', () => {
  const cases: {
    doc: string;
    command?: string[];
    args?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    want: string[] | 'error';
  }[] = [
    {
      doc: 'image entrypoint and cmd',
      Entrypoint: ['/ep'],
      Cmd: ['c1', 'c2'],
      want: ['/ep', 'c1', 'c2'],
    },
    { doc: 'image cmd only', Cmd: ['/bin/sh', '-c', 'x'], want: ['/bin/sh', '-c', 'x'] },
    { doc: 'image entrypoint only', Entrypoint: ['/ep', 'a'], want: ['/ep', 'a'] },
    {
      doc: 'args replace the cmd, keep the entrypoint',
      args: ['a1'],
      Entrypoint: ['/ep'],
      Cmd: ['c1'],
      want: ['/ep', 'a1'],
    },
    {
      doc: 'command replaces entrypoint and drops cmd',
      command: ['/cmd'],
      Entrypoint: ['/ep'],
      Cmd: ['c1'],
      want: ['/cmd'],
    },
    {
      doc: 'command and args',
      command: ['/cmd', 'x'],
      args: ['a1'],
      Entrypoint: ['/ep'],
      Cmd: ['c1'],
      want: ['/cmd', 'x', 'a1'],
    },
    {
      doc: 'entrypoint of one empty string counts as none',
      Entrypoint: [''],
      Cmd: ['/c'],
      want: ['/c'],
    },
    {
      doc: 'entrypoint of one empty string with args',
      Entrypoint: [''],
      args: ['/a'],
      want: ['/a'],
    },
    {
      doc: 'an entrypoint of two strings, one empty, is kept',
      Entrypoint: ['', 'x'],
      Cmd: ['/c'],
      want: ['', 'x', '/c'],
    },
    { doc: 'nothing at all', want: 'error' },
    { doc: 'empty entrypoint string and nothing else', Entrypoint: [''], want: 'error' },
  ];
  for (const c of cases) {
    test(c.doc, () => {
      const run = () =>
        resolveProcessArgs(
          { command: c.command ?? [], args: c.args ?? [] },
          {
            ...(c.Entrypoint ? { Entrypoint: c.Entrypoint } : {}),
            ...(c.Cmd ? { Cmd: c.Cmd } : {}),
          },
        );
      if (c.want === 'error') {
        assert.throws(
          run,
          (err: Error) => isInvalidArgument(err) && /no command specified/.test(err.message),
        );
      } else assert.deepEqual(run(), c.want);
    });
  }

  test('does not alias the image arrays', () => {
    const image = { Entrypoint: ['/ep'], Cmd: ['c'] };
    const out = resolveProcessArgs({ command: [], args: [] }, image);
    out.push('x');
    assert.deepEqual(image, { Entrypoint: ['/ep'], Cmd: ['c'] });
  });
});

describe('replaceOrAppendEnv (containerd replaceOrAppendEnvValues)', () => {
  test('replaces in place, appends new keys, keeps order', () => {
    assert.deepEqual(replaceOrAppendEnv(['A=1', 'B=2'], ['B=3', 'C=4']), ['A=1', 'B=3', 'C=4']);
  });
  test('a key without = removes it', () => {
    assert.deepEqual(replaceOrAppendEnv(['A=1', 'B=2'], ['A']), ['B=2']);
  });
  test('removing a key that is not there does nothing', () => {
    assert.deepEqual(replaceOrAppendEnv(['A=1'], ['Z']), ['A=1']);
  });
  test('two overrides of one new key are both kept, the later last (as containerd)', () => {
    assert.deepEqual(replaceOrAppendEnv(['PATH=/bin'], ['X=image', 'X=config']), [
      'PATH=/bin',
      'X=image',
      'X=config',
    ]);
  });
  test('values may hold =', () => {
    assert.deepEqual(replaceOrAppendEnv(['A=1'], ['A=x=y']), ['A=x=y']);
  });
});
