/**
 * The CRI harness's own pieces, rootless: the JUnit parsing of critest's report, the one config
 * file both daemons read (berthd's loader accepts containerd's CRI config), the hosts.toml mirrors
 * and the iptables rule tokenizer the teardown depends on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { resolveConfig } from '../../src/daemon/config.js';
import { criConfigToml, mirrorHostsToml } from '../helpers/cri.js';
import { ruleSpec } from '../helpers/cri-net.js';
import { parseJunit, specTitle, tally } from '../helpers/critest.js';

// The shape ginkgo v2 (critest 1.26.1) writes, cut down: a suite node, a passed, a skipped and a
// failed spec, with XML entities in names and messages.
const REPORT = `<?xml version="1.0" encoding="UTF-8"?>
  <testsuites tests="4" disabled="1" errors="0" failures="1" time="12.5">
      <testsuite name="CRI validation" package="/tmp/x" tests="4" skipped="1" failures="1" time="12.5">
          <properties><property name="RandomSeed" value="1"></property></properties>
          <testcase name="[BeforeSuite]" classname="CRI validation" status="passed" time="0.0001">
              <system-err>&gt; Enter [BeforeSuite]</system-err>
          </testcase>
          <testcase name="[It] [k8s.io] Streaming runtime should support exec with tty=true and stdin=true" classname="CRI validation" status="passed" time="2.25">
              <system-err>log</system-err>
          </testcase>
          <testcase name="[It] [k8s.io] Image Manager public image with digest should be pulled and removed [Conformance]" classname="CRI validation" status="skipped" time="0">
              <skipped message="skipped"></skipped>
          </testcase>
          <testcase name="[It] [k8s.io] Networking runtime should support port mapping with only container port &amp; &quot;hostPort&quot;" classname="CRI validation" status="failed" time="10.1">
              <failure message="Expected &lt;int&gt;: 404 to equal 200" type="failed">[FAILED] Expected&#xA;at networking.go:123</failure>
              <system-err>log</system-err>
          </testcase>
      </testsuite>
  </testsuites>`;

describe('critest JUnit report', () => {
  test('specs with status, time and failure; suite nodes left out', () => {
    const specs = parseJunit(REPORT);
    assert.deepEqual(
      specs.map((s) => [specTitle(s), s.status, s.time]),
      [
        [
          '[k8s.io] Streaming runtime should support exec with tty=true and stdin=true',
          'passed',
          2.25,
        ],
        [
          '[k8s.io] Image Manager public image with digest should be pulled and removed [Conformance]',
          'skipped',
          0,
        ],
        [
          '[k8s.io] Networking runtime should support port mapping with only container port & "hostPort"',
          'failed',
          10.1,
        ],
      ],
    );
    assert.equal(
      specs[2]?.failure,
      'Expected <int>: 404 to equal 200\n[FAILED] Expected\nat networking.go:123',
    );
    assert.deepEqual(tally(specs), {
      passed: 1,
      failed: 1,
      skipped: 1,
      pending: 0,
      panicked: 0,
      interrupted: 0,
    });
  });

  test('a report without status attributes reads the children', () => {
    const specs = parseJunit(
      '<testsuite><testcase name="a" time="1"/><testcase name="b"><skipped/></testcase><testcase name="c"><failure message="m">x</failure></testcase></testsuite>',
    );
    assert.deepEqual(
      specs.map((s) => [s.name, s.status]),
      [
        ['a', 'passed'],
        ['b', 'skipped'],
        ['c', 'failed'],
      ],
    );
  });
});

describe('the config file both daemons read', () => {
  const toml = criConfigToml({
    runcRoot: '/tmp/t/runc',
    confDir: '/tmp/t/net.d',
    certsDir: '/tmp/t/certs.d',
    ttrpcAddress: '/tmp/t/containerd.sock.ttrpc',
    optDir: '/tmp/t/opt',
  });

  test("containerd 1.6's CRI settings under their names", () => {
    const cfg = parseToml(toml) as Record<string, any>;
    const cri = cfg.plugins['io.containerd.grpc.v1.cri'];
    assert.equal(cfg.version, 2);
    assert.equal(cri.sandbox_image, 'registry.k8s.io/pause:3.6');
    assert.equal(cri.stream_server_address, '127.0.0.1');
    assert.equal(cri.stream_server_port, '0');
    assert.equal(cri.netns_mounts_under_state_dir, true);
    assert.equal(cri.restrict_oom_score_adj, true);
    assert.equal(cri.containerd.snapshotter, 'overlayfs');
    assert.equal(cri.containerd.default_runtime_name, 'runc');
    assert.equal(cri.containerd.runtimes.runc.runtime_type, 'io.containerd.runc.v2');
    assert.deepEqual(
      { ...cri.containerd.runtimes.runc.options },
      {
        SystemdCgroup: false,
        Root: '/tmp/t/runc',
      },
    );
    assert.deepEqual(
      { ...cri.cni },
      {
        bin_dir: '/usr/lib/cni',
        conf_dir: '/tmp/t/net.d',
        max_conf_num: 1,
      },
    );
    assert.deepEqual({ ...cri.registry }, { config_path: '/tmp/t/certs.d' });
  });

  test("berthd's loader takes the same file (root, state and socket from flags)", () => {
    const cfg = resolveConfig(
      { root: '/tmp/t/b/root', state: '/tmp/t/b/state', address: '/tmp/t/b/berth.sock' },
      parseToml(toml) as Record<string, unknown>,
      '/tmp/t/config.toml',
    );
    assert.equal(cfg.root, '/tmp/t/b/root');
    assert.equal(cfg.grpc.address, '/tmp/t/b/berth.sock');
    assert.equal(cfg.debug.level, 'warn');
    assert.equal(
      (cfg.plugins['io.containerd.grpc.v1.cri'] as Record<string, unknown>).sandbox_image,
      'registry.k8s.io/pause:3.6',
    );
  });

  test('hosts.toml mirrors keep the path and never fall back upstream', () => {
    const h = parseToml(mirrorHostsToml('127.0.0.1:5123')) as Record<string, any>;
    assert.equal(h.server, 'http://127.0.0.1:5123');
    assert.deepEqual({ ...h.host['http://127.0.0.1:5123'] }, { capabilities: ['pull', 'resolve'] });
  });
});

describe('iptables -S rules, as the teardown deletes them', () => {
  test('quoted comments stay one word', () => {
    assert.deepEqual(
      ruleSpec(
        '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      ),
      [
        'POSTROUTING',
        '-m',
        'comment',
        '--comment',
        'CNI portfwd requiring masquerade',
        '-j',
        'CNI-HOSTPORT-MASQ',
      ],
    );
    assert.deepEqual(ruleSpec('-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT'), [
      'OUTPUT',
      '-m',
      'addrtype',
      '--dst-type',
      'LOCAL',
      '-j',
      'CNI-HOSTPORT-DNAT',
    ]);
    assert.deepEqual(ruleSpec('-A X -m comment --comment "a \\"quoted\\" word" -j Y'), [
      'X',
      '-m',
      'comment',
      '--comment',
      'a "quoted" word',
      '-j',
      'Y',
    ]);
  });
});
