import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findCommand } from '../../commands.js';
import { CliError } from '../../errors.js';
import { progressMode } from './registry-opts.js';
import { serverDomain } from './server.js';

describe('serverDomain', () => {
  it("reads docker's SERVER forms; Docker Hub's names are docker.io", () => {
    assert.equal(serverDomain(undefined), 'docker.io');
    assert.equal(serverDomain('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(serverDomain('registry-1.docker.io'), 'docker.io');
    assert.equal(serverDomain('127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(serverDomain('http://r.example:8443/v2/'), 'r.example:8443');
    assert.throws(() => serverDomain('user@host'), CliError);
  });
});

describe('progressMode', () => {
  it('takes the five modes, -q as quiet, and refuses others in one line', () => {
    assert.equal(progressMode(undefined, false), 'auto');
    assert.equal(progressMode('plain', false), 'plain');
    assert.equal(progressMode('plain', true), 'quiet');
    assert.throws(() => progressMode('fancy', false), /invalid --progress "fancy"/);
  });
});

describe('the image command table', () => {
  it("answers docker's names and short forms", () => {
    const path = (args: string[]) => findCommand(args)?.entry.path.join(' ');
    assert.equal(path(['images']), 'image ls');
    assert.equal(path(['image', 'list']), 'image ls');
    assert.equal(path(['rmi', 'x']), 'image rm');
    assert.equal(path(['image', 'remove', 'x']), 'image rm');
    assert.equal(path(['pull', 'busybox']), 'image pull');
    assert.equal(path(['push', 'x']), 'image push');
    assert.equal(path(['tag', 'a', 'b']), 'image tag');
    assert.equal(path(['load']), 'image load');
    assert.equal(path(['save', 'x']), 'image save');
    assert.equal(path(['image', 'prune']), 'image prune');
    assert.equal(path(['image', 'inspect', 'x']), 'image inspect');
    assert.equal(path(['login']), 'login');
    assert.equal(path(['logout']), 'logout');
  });

  it('loads every module', async () => {
    const { IMAGE_COMMANDS } = await import('../image-commands.js');
    for (const e of IMAGE_COMMANDS) {
      const spec = await e.load();
      assert.equal(typeof spec.run, 'function', e.path.join(' '));
    }
  });
});
