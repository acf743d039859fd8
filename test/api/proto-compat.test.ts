// Wire compatibility of proto/ with containerd's API as Debian installs it.
//
// Both sets are compiled with protoc into FileDescriptorSets and compared:
// every containerd.* message, enum and service in Debian's set must exist in
// ours with the same shape. Ours may be a superset (newer fields and RPCs);
// extras are only reported as diagnostics.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { fromBinary, isFieldSet } from '@bufbuild/protobuf';
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  type FileDescriptorSet,
  FileDescriptorSetSchema,
  type ServiceDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { containerd17Tarball, criToolsTarball } from '../helpers/shared-tools.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ourProtoDir = join(repoRoot, 'proto');

const gocode = '/usr/share/gocode/src';
const containerdRel = 'github.com/containerd/containerd';
const debianIncludes = [
  gocode,
  join(gocode, 'github.com/gogo/protobuf'),
  join(gocode, 'github.com/gogo/googleapis'),
  '/usr/include',
];

// Packages whose types are compared. google.rpc is included because
// Introspection refers to google.rpc.Status and we ship our own copy;
// runtime.v1 is Kubernetes' CRI.
const comparedPrefixes = ['containerd.', 'google.rpc.', 'runtime.v1.'];

interface Prerequisite {
  path: string;
  pkg: string;
}

const prerequisites: Prerequisite[] = [
  {
    path: join(gocode, containerdRel, 'api/types/mount.proto'),
    pkg: 'golang-github-containerd-containerd-dev',
  },
  {
    path: join(gocode, containerdRel, 'runtime/v2/task/shim.proto'),
    pkg: 'golang-github-containerd-containerd-dev',
  },
  {
    path: join(gocode, 'github.com/gogo/protobuf/gogoproto/gogo.proto'),
    pkg: 'golang-github-gogo-protobuf-dev',
  },
  {
    path: join(gocode, 'github.com/gogo/googleapis/google/rpc/status.proto'),
    pkg: 'golang-github-gogo-googleapis-dev',
  },
  { path: '/usr/include/google/protobuf/timestamp.proto', pkg: 'libprotobuf-dev' },
];

function checkPrerequisites(): void {
  const problems: string[] = [];
  const protoc = spawnSync('protoc', ['--version'], { encoding: 'utf8' });
  if (protoc.error !== undefined || protoc.status !== 0) {
    problems.push('protoc is not installed: apt-get install protobuf-compiler');
  }
  for (const { path, pkg } of prerequisites) {
    if (!existsSync(path)) problems.push(`${path} is missing: apt-get install ${pkg}`);
  }
  if (problems.length > 0) {
    assert.fail(
      `cannot check wire compatibility with containerd's API:\n  ${problems.join('\n  ')}`,
    );
  }
}

function listProtos(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.proto'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function compile(out: string, includes: string[], files: string[], cwd: string): FileDescriptorSet {
  const args = [
    ...includes.map((i) => `-I${i}`),
    `--descriptor_set_out=${out}`,
    '--include_imports',
    ...files,
  ];
  try {
    execFileSync('protoc', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`protoc failed in ${cwd}:\n${stderr}`);
  }
  return fromBinary(FileDescriptorSetSchema, readFileSync(out));
}

interface Index {
  messages: Map<string, DescriptorProto>;
  enums: Map<string, EnumDescriptorProto>;
  services: Map<string, ServiceDescriptorProto>;
}

function indexSet(set: FileDescriptorSet): Index {
  const idx: Index = { messages: new Map(), enums: new Map(), services: new Map() };
  const addEnum = (scope: string, e: EnumDescriptorProto): void => {
    idx.enums.set(`${scope}.${e.name}`, e);
  };
  const addMessage = (scope: string, m: DescriptorProto): void => {
    const name = `${scope}.${m.name}`;
    idx.messages.set(name, m);
    for (const n of m.nestedType) addMessage(name, n);
    for (const e of m.enumType) addEnum(name, e);
  };
  for (const file of set.file) {
    const scope = file.package === '' ? '' : `.${file.package}`;
    for (const m of file.messageType) addMessage(scope, m);
    for (const e of file.enumType) addEnum(scope, e);
    for (const s of file.service) idx.services.set(`${scope}.${s.name}`, s);
  }
  return idx;
}

const compared = (fullName: string): boolean =>
  comparedPrefixes.some((p) => fullName.startsWith(`.${p}`));

// Name of the real (non-synthetic) oneof a field belongs to, or '' if none.
function oneofOf(m: DescriptorProto, f: FieldDescriptorProto): string {
  if (!isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex) || f.proto3Optional) return '';
  return m.oneofDecl[f.oneofIndex]?.name ?? `#${f.oneofIndex}`;
}

function describeField(m: DescriptorProto, f: FieldDescriptorProto): string {
  const label = FieldDescriptorProto_Label[f.label] ?? String(f.label);
  const type = FieldDescriptorProto_Type[f.type] ?? String(f.type);
  const oneof = oneofOf(m, f);
  return `${f.number}:${f.name} ${label} ${type}${f.typeName === '' ? '' : ` ${f.typeName}`}${oneof === '' ? '' : ` oneof ${oneof}`}`;
}

interface Report {
  mismatches: string[];
  extras: string[];
  checked: { messages: number; enums: number; services: number; methods: number };
}

function compare(theirs: Index, ours: Index): Report {
  const report: Report = {
    mismatches: [],
    extras: [],
    checked: { messages: 0, enums: 0, services: 0, methods: 0 },
  };
  const bad = (s: string): void => {
    report.mismatches.push(s);
  };

  for (const [name, tm] of theirs.messages) {
    if (!compared(name)) continue;
    report.checked.messages++;
    const om = ours.messages.get(name);
    if (om === undefined) {
      bad(`message ${name}: missing`);
      continue;
    }
    if ((tm.options?.mapEntry ?? false) !== (om.options?.mapEntry ?? false)) {
      bad(
        `message ${name}: map_entry ${tm.options?.mapEntry ?? false} vs ours ${om.options?.mapEntry ?? false}`,
      );
    }
    const ourFields = new Map(om.field.map((f) => [f.number, f]));
    for (const tf of tm.field) {
      const of = ourFields.get(tf.number);
      if (of === undefined) {
        bad(`message ${name}: field ${describeField(tm, tf)} missing`);
        continue;
      }
      const want = describeField(tm, tf);
      const got = describeField(om, of);
      if (want !== got) bad(`message ${name}: field ${want}, ours ${got}`);
    }
    const theirNumbers = new Set(tm.field.map((f) => f.number));
    for (const of of om.field) {
      if (!theirNumbers.has(of.number))
        report.extras.push(`field ${name}.${describeField(om, of)}`);
    }
  }
  for (const name of ours.messages.keys()) {
    if (compared(name) && !theirs.messages.has(name)) report.extras.push(`message ${name}`);
  }

  for (const [name, te] of theirs.enums) {
    if (!compared(name)) continue;
    report.checked.enums++;
    const oe = ours.enums.get(name);
    if (oe === undefined) {
      bad(`enum ${name}: missing`);
      continue;
    }
    const ourValues = new Map(oe.value.map((v) => [v.name, v.number]));
    for (const tv of te.value) {
      const n = ourValues.get(tv.name);
      if (n === undefined) bad(`enum ${name}: value ${tv.name}=${tv.number} missing`);
      else if (n !== tv.number) bad(`enum ${name}: value ${tv.name}=${tv.number}, ours ${n}`);
    }
    const theirValues = new Set(te.value.map((v) => v.name));
    for (const ov of oe.value) {
      if (!theirValues.has(ov.name))
        report.extras.push(`enum value ${name}.${ov.name}=${ov.number}`);
    }
  }
  for (const name of ours.enums.keys()) {
    if (compared(name) && !theirs.enums.has(name)) report.extras.push(`enum ${name}`);
  }

  for (const [name, ts] of theirs.services) {
    if (!compared(name)) continue;
    report.checked.services++;
    const os = ours.services.get(name);
    if (os === undefined) {
      bad(`service ${name}: missing`);
      continue;
    }
    const ourMethods = new Map(os.method.map((m) => [m.name, m]));
    for (const tm of ts.method) {
      report.checked.methods++;
      const om = ourMethods.get(tm.name);
      if (om === undefined) {
        bad(`service ${name}: rpc ${tm.name} missing`);
        continue;
      }
      const sig = (m: typeof tm): string =>
        `(${m.clientStreaming ? 'stream ' : ''}${m.inputType}) returns (${m.serverStreaming ? 'stream ' : ''}${m.outputType})`;
      if (sig(tm) !== sig(om)) bad(`service ${name}: rpc ${tm.name}${sig(tm)}, ours ${sig(om)}`);
    }
    const theirMethods = new Set(ts.method.map((m) => m.name));
    for (const om of os.method) {
      if (!theirMethods.has(om.name)) report.extras.push(`rpc ${name}/${om.name}`);
    }
  }
  for (const name of ours.services.keys()) {
    if (compared(name) && !theirs.services.has(name)) report.extras.push(`service ${name}`);
  }
  return report;
}

test('proto/ is wire-compatible with Debian containerd API protos', (t) => {
  checkPrerequisites();
  const work = mkdtempSync(join(tmpdir(), 'berth-proto-compat-'));
  try {
    const containerdDir = join(gocode, containerdRel);
    const debianFiles = [
      ...listProtos(join(containerdDir, 'api')),
      join(containerdDir, 'runtime/v2/task/shim.proto'),
      join(containerdDir, 'runtime/v2/runc/options/oci.proto'),
    ].map((p) => relative(gocode, p));
    const ourFiles = listProtos(ourProtoDir).map((p) => relative(ourProtoDir, p));
    assert.ok(ourFiles.length > 0, `no .proto files under ${ourProtoDir}`);

    const theirs = indexSet(compile(join(work, 'debian.pb'), debianIncludes, debianFiles, gocode));
    const ours = indexSet(
      compile(join(work, 'ours.pb'), ['.', '/usr/include'], ourFiles, ourProtoDir),
    );

    const report = compare(theirs, ours);
    const c = report.checked;
    t.diagnostic(
      `checked ${debianFiles.length} Debian protos: ${c.messages} messages, ${c.enums} enums, ` +
        `${c.services} services, ${c.methods} methods`,
    );
    // The CRI (runtime.v1) has its own comparison below.
    for (const extra of report.extras.sort()) {
      if (!extra.includes('.runtime.v1.')) t.diagnostic(`extra in ours: ${extra}`);
    }

    assert.ok(
      c.messages > 100 && c.services >= 12,
      `suspiciously little compared: ${JSON.stringify(c)}`,
    );
    if (report.mismatches.length > 0) {
      assert.fail(
        `${report.mismatches.length} mismatch(es) between proto/ and containerd's API:\n  ${report.mismatches.join('\n  ')}`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

// containerd 1.7's Transfer and Streaming services and their types, which
// Debian's containerd 1.6 API does not have: compared against the protos of
// containerd 1.7.13's source tarball (in the shared tools beside the repo).
const transferProtos17 = [
  'api/services/transfer/v1/transfer.proto',
  'api/services/streaming/v1/streaming.proto',
  'api/types/transfer/imagestore.proto',
  'api/types/transfer/importexport.proto',
  'api/types/transfer/progress.proto',
  'api/types/transfer/registry.proto',
  'api/types/transfer/streaming.proto',
];

test('proto/ is wire-compatible with containerd 1.7.13 Transfer and Streaming protos', (t) => {
  const tarball = containerd17Tarball();
  if (tarball === undefined) {
    t.skip(
      "containerd 1.7.13's source tarball is not in ../shared/tools/containerd-1.7 (set BERTH_SHARED_TOOLS)",
    );
    return;
  }
  checkPrerequisites();
  const work = mkdtempSync(join(tmpdir(), 'berth-proto-compat17-'));
  try {
    // The protos import each other as github.com/containerd/containerd/api/...
    const root = join(work, 'src');
    const apiDir = join(root, containerdRel);
    mkdirSync(apiDir, { recursive: true });
    const members = [...transferProtos17, 'api/types/platform.proto'].map(
      (p) => `containerd-1.7.13/${p}`,
    );
    execFileSync('tar', ['-xzf', tarball, '-C', apiDir, '--strip-components=1', ...members]);
    const theirFiles = transferProtos17.map((p) => `${containerdRel}/${p}`);
    const ourFiles = listProtos(ourProtoDir).map((p) => relative(ourProtoDir, p));

    const theirs = indexSet(
      compile(join(work, 'ctd17.pb'), [root, '/usr/include'], theirFiles, root),
    );
    const ours = indexSet(
      compile(join(work, 'ours.pb'), ['.', '/usr/include'], ourFiles, ourProtoDir),
    );
    const report = compare(theirs, ours);
    const c = report.checked;
    t.diagnostic(
      `checked ${theirFiles.length} containerd 1.7.13 protos: ${c.messages} messages, ${c.enums} enums, ` +
        `${c.services} services, ${c.methods} methods`,
    );
    // Transfer, Streaming; TransferRequest, TransferOptions, StreamInit, 12 types, Platform (imported).
    assert.equal(c.services, 2, `services compared: ${JSON.stringify(c)}`);
    assert.ok(c.messages >= 17, `suspiciously little compared: ${JSON.stringify(c)}`);
    assert.equal(c.enums, 1, `enums compared: ${JSON.stringify(c)}`);
    if (report.mismatches.length > 0) {
      assert.fail(
        `${report.mismatches.length} mismatch(es) between proto/ and containerd 1.7.13:\n  ${report.mismatches.join('\n  ')}`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

// Kubernetes' CRI (runtime.v1), which kubelet, crictl and critest speak:
// compared against the api.proto cri-tools 1.26.1 vendors (cri-api v0.26.0).
test('proto/ is wire-compatible with the CRI api.proto of cri-tools 1.26.1', (t) => {
  const tarball = criToolsTarball();
  if (tarball === undefined) {
    t.skip(
      "cri-tools' source tarball is not in ../shared/tools/cri-tools (set BERTH_SHARED_TOOLS)",
    );
    return;
  }
  checkPrerequisites();
  const work = mkdtempSync(join(tmpdir(), 'berth-proto-compat-cri-'));
  try {
    const member = 'cri-tools-1.26.1/vendor/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto';
    execFileSync('tar', ['-xzf', tarball, '-C', work, '--strip-components=2', member]);
    const root = work;
    const theirFiles = ['k8s.io/cri-api/pkg/apis/runtime/v1/api.proto'];
    const ourFiles = listProtos(ourProtoDir).map((p) => relative(ourProtoDir, p));

    // api.proto imports gogo.proto for Go options only; Debian ships it.
    const theirs = indexSet(
      compile(join(work, 'cri.pb'), [root, ...debianIncludes], theirFiles, root),
    );
    const ours = indexSet(
      compile(join(work, 'ours.pb'), ['.', '/usr/include'], ourFiles, ourProtoDir),
    );
    const report = compare(theirs, ours);
    const c = report.checked;
    t.diagnostic(
      `checked cri-api v0.26.0: ${c.messages} messages, ${c.enums} enums, ` +
        `${c.services} services, ${c.methods} methods`,
    );
    assert.equal(c.services, 2, `services compared: ${JSON.stringify(c)}`);
    // RuntimeService's 28 methods and ImageService's 5.
    assert.equal(c.methods, 33, `methods compared: ${JSON.stringify(c)}`);
    assert.ok(c.messages >= 140, `suspiciously little compared: ${JSON.stringify(c)}`);
    if (report.mismatches.length > 0) {
      assert.fail(
        `${report.mismatches.length} mismatch(es) between proto/ and cri-api v0.26.0:\n  ${report.mismatches.join('\n  ')}`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
