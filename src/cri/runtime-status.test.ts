import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ctxOf } from '../../test/helpers/image-stores.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { isFailedPrecondition, isInvalidArgument } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import { criConfig } from './config.js';
import {
  podRoutes,
  type RuntimeStatusOptions,
  renderConfTemplate,
  status,
  TEMPLATE_CONF_FILE,
  updateRuntimeConfig,
  version,
} from './runtime-status.js';

function opts(over: Partial<RuntimeStatusOptions> = {}): RuntimeStatusOptions {
  return {
    version: '1.2.3',
    config: criConfig({}, nullLogger),
    networkStatus: () => ({ ready: true, message: '' }),
    ...over,
  };
}

// containerd's documented CNI config template (docs/cni.md), in the forms berth renders.
const TEMPLATE = `{
  "cniVersion": "0.4.0",
  "name": "containerd-net",
  "plugins": [{
    "type": "bridge",
    "ipam": {
      "type": "host-local",
      "ranges": [{{range $i, $range := .PodCIDRRanges}}{{if $i}}, {{end}}[{"subnet": "{{$range}}"}]{{end}}],
      "routes": [{{range $i, $route := .Routes}}{{if $i}}, {{end}}{"dst": "{{$route}}"}{{end}}]
    }
  }],
  "first": "{{.PodCIDR}}"
}`;

describe('runtime status', () => {
  it('answers Version as a CRI v1 runtime', () => {
    assert.deepEqual(version({ version: '1.2.3' }), {
      version: '0.1.0',
      runtimeName: 'berth',
      runtimeVersion: '1.2.3',
      runtimeApiVersion: 'v1',
    });
  });

  it('reports RuntimeReady and NetworkReady from the network callback', () => {
    let ready = true;
    const o = opts({ networkStatus: () => ({ ready, message: 'cni config uninitialized' }) });
    const up = status(o, { verbose: false });
    assert.deepEqual(up.status?.conditions, [
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: true, reason: '', message: '' },
    ]);
    assert.deepEqual(up.info, {});
    ready = false;
    const down = status(o, { verbose: false });
    assert.deepEqual(down.status?.conditions[1], {
      type: 'NetworkReady',
      status: false,
      reason: 'NetworkPluginNotReady',
      message: 'Network plugin returns error: cni config uninitialized',
    });
  });

  it('gives the config and the CNI state with verbose', () => {
    const res = status(
      opts({ verboseInfo: () => ({ cniconfig: '{"x":1}' }), dirs: { rootDir: '/r' } }),
      { verbose: true },
    );
    const config = JSON.parse(res.info.config ?? '');
    assert.equal(config.sandboxImage, 'registry.k8s.io/pause:3.6');
    assert.equal(config.cni.binDir, '/opt/cni/bin');
    assert.equal(config.rootDir, '/r');
    assert.equal(res.info.cniconfig, '{"x":1}');
    assert.equal(res.info.lastCNILoadStatus, 'OK');
    // Registry secrets stay out of it.
    const withAuth = criConfig(
      { registry: { auths: { 'reg.example': { username: 'u', password: 'hunter2' } } } },
      nullLogger,
    );
    const shown = status(opts({ config: withAuth }), { verbose: true }).info.config ?? '';
    assert.ok(shown.includes('reg.example') && !shown.includes('hunter2'), shown);
  });

  it('derives one default route per address family', () => {
    assert.deepEqual(podRoutes(['10.88.0.0/16']), ['0.0.0.0/0']);
    assert.deepEqual(podRoutes(['10.88.0.0/16', '10.89.0.0/16', 'fd00::/64']), [
      '0.0.0.0/0',
      '::/0',
    ]);
    assert.throws(() => podRoutes(['10.88.0.0']), isInvalidArgument);
    assert.throws(() => podRoutes(['10.88.0.0/40']), isInvalidArgument);
  });

  it("renders containerd's CNI config template", () => {
    const out = renderConfTemplate(
      TEMPLATE,
      {
        podCIDR: '10.88.0.0/16',
        podCIDRRanges: ['10.88.0.0/16', 'fd00::/64'],
        routes: ['0.0.0.0/0', '::/0'],
      },
      't',
    );
    const conf = JSON.parse(out);
    assert.deepEqual(conf.plugins[0].ipam.ranges, [
      [{ subnet: '10.88.0.0/16' }],
      [{ subnet: 'fd00::/64' }],
    ]);
    assert.deepEqual(conf.plugins[0].ipam.routes, [{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
    assert.equal(conf.first, '10.88.0.0/16');
    assert.throws(
      () => renderConfTemplate('{{.Other}}', { podCIDR: '', podCIDRRanges: [], routes: [] }, 't'),
      (err: unknown) =>
        isFailedPrecondition(err) && /\{\{\.Other\}\} is not supported/.test(String(err)),
    );
  });

  it('writes the CNI config from the template only while the network is not ready', async () => {
    const dir = tempDir();
    try {
      const template = join(dir.path, 'template.json');
      writeFileSync(template, TEMPLATE);
      const confDir = join(dir.path, 'net.d');
      const config = criConfig({ cni: { conf_dir: confDir, conf_template: template } }, nullLogger);
      let ready = true;
      const o = opts({ config, networkStatus: () => ({ ready, message: 'no config' }) });
      const req = { runtimeConfig: { networkConfig: { podCidr: '10.88.0.0/16' } } };
      const file = join(confDir, TEMPLATE_CONF_FILE);
      await updateRuntimeConfig(ctxOf('k8s.io'), o, req);
      assert.equal(existsSync(file), false);
      ready = false;
      await updateRuntimeConfig(ctxOf('k8s.io'), o, { runtimeConfig: {} });
      assert.equal(existsSync(file), false);
      await updateRuntimeConfig(ctxOf('k8s.io'), o, req);
      const conf = JSON.parse(readFileSync(file, 'utf8'));
      assert.deepEqual(conf.plugins[0].ipam.ranges, [[{ subnet: '10.88.0.0/16' }]]);
      // No template: nothing written, no error.
      const plain = opts({ networkStatus: () => ({ ready: false, message: '' }) });
      assert.deepEqual(await updateRuntimeConfig(ctxOf('k8s.io'), plain, req), {});
    } finally {
      dir.remove();
    }
  });
});
