import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { nullLogger } from '../core/log/index.js';
import {
  type DaemonInfo,
  type InitContext,
  pluginKey,
  type Registration,
} from '../plugin/index.js';
import { orderByRequires, PluginSet } from './plugin-set.js';

const daemon: DaemonInfo = {
  address: '/run/test.sock',
  ttrpcAddress: '/run/test.sock.ttrpc',
  publishBinary: '/bin/true',
  version: { version: '0.0.0', revision: 'test' },
  shuttingDown: () => false,
};

const reg = (
  type: string,
  id: string,
  requires: string[] = [],
  init: (ic: InitContext) => unknown = () => id,
) => ({ type, id, requires, init }) as Registration<unknown>;

describe('plugins', () => {
  it('orders by required types and keeps the given order otherwise', () => {
    const order = orderByRequires([
      reg('grpc', 'a', ['service']),
      reg('grpc', 'b'),
      reg('service', 's', ['metadata']),
      reg('metadata', 'm'),
    ]).map((r) => r.id);
    assert.deepEqual(order, ['m', 's', 'a', 'b']);
    assert.throws(() => orderByRequires([reg('x', '1', ['y']), reg('y', '2', ['x'])]), /cycle/);
  });

  it('records init failures and disabled plugins without stopping the rest', async () => {
    const dir = tempDir();
    try {
      const set = await PluginSet.load(
        [
          reg('t', 'ok'),
          reg('t', 'broken', [], () => {
            throw new Error('no disk');
          }),
          reg('t', 'off'),
          reg('u', 'needs', ['t'], () => 'fine'),
        ],
        { root: dir.path, state: dir.path, log: nullLogger, disabled: ['t.off'], daemon },
      );
      const status = Object.fromEntries(set.all.map((r) => [r.registration.id, r.status]));
      assert.deepEqual(status, { ok: 'ok', broken: 'error', off: 'skip', needs: 'ok' });
      assert.equal(set.get(pluginKey<string>('t', 'ok')), 'ok');
      assert.throws(() => set.get(pluginKey('t', 'broken')), /not loaded: no disk/);
      assert.match(
        set.all.find((r) => r.registration.id === 'off')?.error?.message ?? '',
        /skip plugin/,
      );
      assert.deepEqual([...set.getByType('t')], [['ok', 'ok']]);
    } finally {
      dir.remove();
    }
  });

  it('gives each init the daemon, its peers of a type by id, and the records so far', async () => {
    const dir = tempDir();
    try {
      let seen: { address: string; peers: [string, unknown][]; records: string[] } | undefined;
      await PluginSet.load(
        [
          reg('snap', 'a', [], () => 'A'),
          reg('snap', 'b', [], () => 'B'),
          reg('meta', 'm', ['snap'], (ic) => {
            seen = {
              address: ic.daemon.address,
              peers: [...ic.getByType('snap')],
              records: ic.plugins().map((r) => r.registration.id),
            };
            return 'M';
          }),
        ],
        { root: dir.path, state: dir.path, log: nullLogger, daemon },
      );
      assert.deepEqual(seen, {
        address: '/run/test.sock',
        peers: [
          ['a', 'A'],
          ['b', 'B'],
        ],
        records: ['a', 'b'],
      });
    } finally {
      dir.remove();
    }
  });
});
