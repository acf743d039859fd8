import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  NamespaceMode,
  type PodSandbox,
  PodSandboxConfig,
  PodSandboxState,
  Protocol,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { resolvConf } from './files.js';
import { filterSandboxes } from './filters.js';
import { goJson } from './go-json.js';
import { decodeSandboxMetadata, encodeSandboxMetadata, SANDBOX_METADATA_TYPE } from './metadata.js';
import { podNetworkRequest, selectPodIps } from './network.js';
import { makeSandboxName, type SandboxMetadata } from './sandbox.js';

const config = PodSandboxConfig.fromPartial({
  metadata: { name: 'web', namespace: 'default', uid: 'u-1', attempt: 2 },
  hostname: 'web-host',
  logDirectory: '/var/log/pods/web',
  dnsConfig: { servers: ['10.0.0.10'], searches: ['svc.local', 'local'], options: ['ndots:5'] },
  portMappings: [
    { protocol: Protocol.UDP, containerPort: 53, hostPort: 5353, hostIp: '127.0.0.1' },
    { protocol: Protocol.TCP, containerPort: 80, hostPort: 0, hostIp: '' },
  ],
  labels: { app: 'web' },
  annotations: { a: 'b' },
  linux: {
    cgroupParent: '/kubepods/pod-u-1',
    sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
    securityContext: {
      namespaceOptions: {
        network: NamespaceMode.POD,
        pid: NamespaceMode.NODE,
        ipc: NamespaceMode.POD,
      },
      runAsUser: { value: 1000n },
    },
  },
});

describe('sandbox names, files and network requests', () => {
  test("the name is containerd's <name>_<namespace>_<uid>_<attempt>", () => {
    assert.equal(makeSandboxName(config.metadata), 'web_default_u-1_2');
  });

  test('resolv.conf: search, nameservers, options', () => {
    assert.equal(
      resolvConf({ servers: ['1.1.1.1', '8.8.8.8'], searches: ['a', 'b'], options: ['ndots:2'] }),
      'search a b\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions ndots:2\n',
    );
    assert.equal(
      resolvConf({ servers: ['1.1.1.1'], searches: [], options: [] }),
      'nameserver 1.1.1.1\n',
    );
  });

  test('the CNI request carries the K8S args, the host ports and the DNS config', () => {
    const req = podNetworkRequest('sb1', '/run/netns/x', config);
    assert.deepEqual(req.args, {
      IgnoreUnknown: '1',
      K8S_POD_NAMESPACE: 'default',
      K8S_POD_NAME: 'web',
      K8S_POD_INFRA_CONTAINER_ID: 'sb1',
      K8S_POD_UID: 'u-1',
    });
    assert.deepEqual(req.portMappings, [
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    ]);
    assert.deepEqual(req.dns?.searches, ['svc.local', 'local']);
    assert.equal(req.ifName, 'eth0');
  });

  test('pod IPs: eth0 only, IPv4 first, prefixes dropped', () => {
    assert.deepEqual(
      selectPodIps({
        ips: [
          { address: 'fd00::5/64', interface: 'eth0' },
          { address: '127.0.0.1/8', interface: 'lo' },
          { address: '10.88.0.5/16', interface: 'eth0' },
        ],
        raw: null,
      }),
      { ip: '10.88.0.5', additionalIps: ['fd00::5'] },
    );
    assert.deepEqual(selectPodIps({ ips: [{ address: '10.1.0.2' }], raw: null }), {
      ip: '10.1.0.2',
      additionalIps: [],
    });
    assert.deepEqual(selectPodIps({ ips: [], raw: null }), { ip: '', additionalIps: [] });
  });
});

describe('sandbox metadata extension', () => {
  const md: SandboxMetadata = {
    id: 'a'.repeat(64),
    name: 'web_default_u-1_2',
    config,
    netnsPath: '/run/berth/io.containerd.grpc.v1.cri/netns/cni-1',
    ip: '10.88.0.5',
    additionalIps: ['fd00::5'],
    runtimeHandler: 'runc',
    cniResult: [{ network: 'n', ifName: 'eth0', result: { cniVersion: '1.0.0' } }],
  };

  test("round-trips exactly, int64s included, in containerd's versioned shape", () => {
    const any = encodeSandboxMetadata(md);
    assert.equal(any.typeUrl, SANDBOX_METADATA_TYPE);
    const json = JSON.parse(Buffer.from(any.value).toString());
    assert.equal(json.Version, 'v1');
    assert.equal(json.Metadata.ID, md.id);
    assert.equal(json.Metadata.Config.linux.securityContext.runAsUser.value, '1000');
    assert.deepEqual(decodeSandboxMetadata(any), md);
  });

  test('garbage is invalid_argument', () => {
    const bad =
      (value: string, typeUrl = SANDBOX_METADATA_TYPE) =>
      () =>
        decodeSandboxMetadata({ typeUrl, value: Buffer.from(value) });
    assert.throws(bad('{'), isInvalidArgument);
    assert.throws(bad('{"Version":"v2","Metadata":{}}'), isInvalidArgument);
    assert.throws(bad('{"Version":"v1","Metadata":{"ID":1}}'), isInvalidArgument);
    assert.throws(bad('{}', 'other'), isInvalidArgument);
  });
});

describe('ListPodSandbox filters', () => {
  const item = (
    id: string,
    state: PodSandboxState,
    labels: Record<string, string>,
  ): PodSandbox => ({
    id,
    state,
    labels,
    annotations: {},
    createdAt: 1n,
    runtimeHandler: '',
  });
  const items = [
    item('aaa1', PodSandboxState.SANDBOX_READY, { app: 'web', tier: 'front' }),
    item('aab2', PodSandboxState.SANDBOX_NOTREADY, { app: 'web' }),
    item('bbb3', PodSandboxState.SANDBOX_READY, { app: 'db' }),
  ];
  const resolve = (p: string) => {
    const hits = items.filter((i) => i.id.startsWith(p));
    return hits.length === 1 ? hits[0]?.id : undefined;
  };
  const ids = (f: Parameters<typeof filterSandboxes>[1]) =>
    filterSandboxes(items, f, resolve).map((i) => i.id);

  test('none, id prefix, state and label selector (all pairs)', () => {
    assert.deepEqual(ids(undefined), ['aaa1', 'aab2', 'bbb3']);
    assert.deepEqual(ids({ id: 'aab', labelSelector: {} }), ['aab2']);
    assert.deepEqual(
      ids({ id: 'aa', labelSelector: {} }),
      [],
      'an ambiguous prefix matches nothing',
    );
    assert.deepEqual(
      ids({ id: '', state: { state: PodSandboxState.SANDBOX_READY }, labelSelector: {} }),
      ['aaa1', 'bbb3'],
    );
    assert.deepEqual(ids({ id: '', labelSelector: { app: 'web' } }), ['aaa1', 'aab2']);
    assert.deepEqual(ids({ id: '', labelSelector: { app: 'web', tier: 'front' } }), ['aaa1']);
    assert.deepEqual(
      ids({ id: 'bbb', state: { state: PodSandboxState.SANDBOX_NOTREADY }, labelSelector: {} }),
      [],
    );
  });
});

describe('verbose info JSON as Go marshals the CRI types', () => {
  test('snake_case, omitempty, int64 as numbers, map keys kept', () => {
    assert.deepEqual(goJson(config), {
      metadata: { name: 'web', uid: 'u-1', namespace: 'default', attempt: 2 },
      hostname: 'web-host',
      log_directory: '/var/log/pods/web',
      dns_config: {
        servers: ['10.0.0.10'],
        searches: ['svc.local', 'local'],
        options: ['ndots:5'],
      },
      port_mappings: [
        { protocol: 1, container_port: 53, host_port: 5353, host_ip: '127.0.0.1' },
        { container_port: 80 },
      ],
      labels: { app: 'web' },
      annotations: { a: 'b' },
      linux: {
        cgroup_parent: '/kubepods/pod-u-1',
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
        security_context: {
          namespace_options: { pid: 2 },
          run_as_user: { value: 1000 },
        },
      },
    });
  });
});
