import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata } from '@grpc/grpc-js';
import { promiseCall, serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  type CreateTaskResponse,
  TasksClient,
} from '../../api/containerd/services/tasks/v1/tasks.js';
import { isNotFound, notFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type {
  Checkpointer,
  CreateTaskOptions,
  Exit,
  Task,
  TaskManager,
} from '../../core/tasks/index.js';
import type { GrpcServer } from '../../server/server.js';
import { type ContainerLookup, tasksService } from './service.js';

/** Tasks that exist once created; `deleted` records what the service deleted. */
class RecordingTasks implements TaskManager {
  readonly live = new Set<string>();
  readonly deleted: string[] = [];
  /** Runs while a create is in flight (a slow shim start, OCI hooks). */
  duringCreate: () => void = () => {};
  async create(_ctx: OpContext, id: string, _opts: CreateTaskOptions) {
    this.duringCreate();
    this.live.add(id);
    return { task: { id } as unknown as Task, pid: 4242 };
  }
  get(_ctx: OpContext, id: string): Task {
    if (!this.live.has(id)) throw notFound(`task ${id}`);
    return { id } as unknown as Task;
  }
  list(): Task[] {
    return [];
  }
  async delete(_ctx: OpContext, id: string): Promise<Exit> {
    if (!this.live.delete(id)) throw notFound(`task ${id}`);
    this.deleted.push(id);
    return { pid: 4242, status: 137, exitedAt: 1n };
  }
}

class Containers implements ContainerLookup {
  readonly ids = new Set<string>();
  async get(_ctx: OpContext, id: string) {
    if (!this.ids.has(id)) throw notFound(`container "${id}"`);
    return {
      id,
      runtime: { name: 'io.containerd.runc.v2' },
      spec: {
        typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
        value: new Uint8Array(Buffer.from('{}')),
      },
    };
  }
}

const noCheckpoints = {} as Checkpointer;

describe('Tasks service Create', () => {
  let dir: TempDir;
  let server: GrpcServer;
  let client: TasksClient;
  const containers = new Containers();
  const tasks = new RecordingTasks();
  const md = new Metadata();
  md.set('containerd-namespace', 'default');

  before(async () => {
    dir = tempDir();
    const socket = join(dir.path, 'tasks.sock');
    server = await serveForTest(socket, [
      tasksService({ containers, tasks, checkpointer: noCheckpoints }),
    ]);
    client = new TasksClient(`unix://${socket}`, credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await server.stop();
    dir.remove();
  });

  const create = (containerId: string) =>
    promiseCall<CreateTaskResponse>((cb) =>
      client.create(
        {
          containerId,
          rootfs: [],
          stdin: '',
          stdout: '',
          stderr: '',
          terminal: false,
          checkpoint: undefined,
          options: undefined,
          runtimePath: '',
        },
        md,
        cb,
      ),
    );

  it('answers the pid of a created task whose container still exists', async () => {
    containers.ids.add('kept');
    const r = await create('kept');
    assert.equal(r.pid, 4242);
    assert.ok(tasks.live.has('kept'));
  });

  it('drops the task of a container deleted while the task was being created', async () => {
    containers.ids.add('gone');
    tasks.duringCreate = () => containers.ids.delete('gone');
    try {
      await assert.rejects(create('gone'), (err: Error) => {
        assert.ok(isNotFound(err), String(err));
        assert.match(err.message, /container gone was deleted while its task was being created/);
        return true;
      });
    } finally {
      tasks.duringCreate = () => {};
    }
    assert.deepEqual(tasks.deleted, ['gone']);
    assert.ok(!tasks.live.has('gone'));
  });
});
