import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { isInvalidArgument } from '../core/errdefs/index.js';
import { confFiles, loadConfDir, parseConf, parseConfList } from './conf.js';

const bridge = {
  type: 'bridge',
  bridge: 'cni0',
  ipam: { type: 'host-local', subnet: '10.22.0.0/16' },
};

describe('cni conf loading', () => {
  let tmp: TempDir;
  let dir: string;
  const write = (name: string, v: unknown) =>
    writeFileSync(join(dir, name), typeof v === 'string' ? v : JSON.stringify(v));

  beforeEach(() => {
    tmp = tempDir();
    dir = join(tmp.path, 'net.d');
    mkdirSync(dir);
  });
  afterEach(() => tmp.remove());

  it('lists .conf, .conflist and .json files sorted by name, skipping others and directories', () => {
    write('20-b.conflist', {});
    write('10-a.conf', {});
    write('30-c.json', {});
    write('05-x.yaml', {});
    write('99-z.conf.bak', {});
    mkdirSync(join(dir, '01-dir.conf'));
    assert.deepEqual(
      confFiles(dir).map((f) => f.slice(dir.length + 1)),
      ['10-a.conf', '20-b.conflist', '30-c.json'],
    );
  });

  it('gives no networks for a missing or empty dir', () => {
    assert.deepEqual(loadConfDir(join(tmp.path, 'missing'), 1), []);
    assert.deepEqual(loadConfDir(dir, 1), []);
  });

  it('turns a .conf into a one-plugin list and keeps a conflist chain in order', () => {
    write('10-one.conf', { cniVersion: '0.4.0', name: 'one', ...bridge });
    write('20-two.conflist', {
      cniVersion: '1.0.0',
      name: 'two',
      plugins: [bridge, { type: 'portmap', capabilities: { portMappings: true } }],
    });
    const nets = loadConfDir(dir, 0);
    assert.equal(nets.length, 2);
    const [one, two] = nets;
    assert.equal(one?.name, 'one');
    assert.equal(one?.cniVersion, '0.4.0');
    assert.deepEqual(
      one?.plugins.map((p) => p.type),
      ['bridge'],
    );
    assert.equal(one?.plugins[0]?.bridge, 'cni0');
    assert.deepEqual(
      two?.plugins.map((p) => p.type),
      ['bridge', 'portmap'],
    );
    assert.deepEqual(JSON.parse(two?.bytes ?? '').plugins[1].capabilities, { portMappings: true });
  });

  it('takes only maxConfNum networks, first by name', () => {
    write('20-b.conf', { cniVersion: '1.0.0', name: 'b', ...bridge });
    write('10-a.conf', { cniVersion: '1.0.0', name: 'a', ...bridge });
    assert.deepEqual(
      loadConfDir(dir, 1).map((n) => n.name),
      ['a'],
    );
    assert.deepEqual(
      loadConfDir(dir, 2).map((n) => n.name),
      ['a', 'b'],
    );
  });

  it('rejects an invalid file with an error naming it', () => {
    const cases: [string, unknown, RegExp][] = [
      ['bad.conflist', '{not json', /not JSON/],
      ['noname.conflist', { cniVersion: '1.0.0', plugins: [bridge] }, /missing network "name"/],
      ['noversion.conflist', { name: 'n', plugins: [bridge] }, /missing "cniVersion"/],
      [
        'newversion.conflist',
        { name: 'n', cniVersion: '9.0.0', plugins: [bridge] },
        /unsupported cniVersion "9.0.0"/,
      ],
      [
        'badname.conflist',
        { name: 'a b', cniVersion: '1.0.0', plugins: [bridge] },
        /invalid network name/,
      ],
      ['noplugins.conflist', { name: 'n', cniVersion: '1.0.0' }, /no "plugins" list/],
      ['empty.conflist', { name: 'n', cniVersion: '1.0.0', plugins: [] }, /no plugins in list/],
      [
        'notype.conflist',
        { name: 'n', cniVersion: '1.0.0', plugins: [{ bridge: 'x' }] },
        /plugins\[0\]: missing 'type'/,
      ],
      [
        'path.conflist',
        { name: 'n', cniVersion: '1.0.0', plugins: [{ type: '../sh' }] },
        /invalid plugin type/,
      ],
      ['notype.conf', { name: 'n', cniVersion: '1.0.0' }, /missing 'type'/],
      ['list.conf', { name: 'n', cniVersion: '1.0.0', plugins: [bridge] }, /name it \*\.conflist/],
      [
        'caps.conflist',
        {
          name: 'n',
          cniVersion: '1.0.0',
          plugins: [{ type: 'portmap', capabilities: { portMappings: 'yes' } }],
        },
        /capabilities/,
      ],
    ];
    for (const [name, body, re] of cases) {
      const d = join(tmp.path, name.replace('.', '_'));
      mkdirSync(d);
      writeFileSync(join(d, name), typeof body === 'string' ? body : JSON.stringify(body));
      assert.throws(
        () => loadConfDir(d, 1),
        (e: Error) =>
          isInvalidArgument(e) && e.message.includes(join(d, name)) && re.test(e.message),
        name,
      );
    }
  });

  it('fails the whole load on an invalid file before the default, as go-cni', () => {
    write('00-bad.conf', '{');
    write('10-good.conf', { cniVersion: '1.0.0', name: 'good', ...bridge });
    assert.throws(() => loadConfDir(dir, 1), /00-bad\.conf/);
  });

  it('parses from bytes', () => {
    const l = parseConf(
      JSON.stringify({ cniVersion: '0.3.1', name: 'x', type: 'loopback' }),
      'mem',
    );
    assert.deepEqual(JSON.parse(l.bytes), {
      name: 'x',
      cniVersion: '0.3.1',
      plugins: [{ cniVersion: '0.3.1', name: 'x', type: 'loopback' }],
    });
    const d = parseConfList(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'x',
        disableCheck: true,
        plugins: [{ type: 'loopback' }],
      }),
      'mem',
    );
    assert.equal(d.disableCheck, true);
  });
});
