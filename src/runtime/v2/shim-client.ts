import {
  CheckpointTaskRequest,
  CloseIORequest,
  ConnectRequest,
  ConnectResponse,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteRequest,
  DeleteResponse,
  ExecProcessRequest,
  KillRequest,
  PauseRequest,
  PidsRequest,
  PidsResponse,
  ResizePtyRequest,
  ResumeRequest,
  ShutdownRequest,
  StartRequest,
  StartResponse,
  StateRequest,
  StateResponse,
  StatsRequest,
  StatsResponse,
  UpdateTaskRequest,
  WaitRequest,
  WaitResponse,
} from '../../api/containerd/task/v2/shim.js';
import type { TtrpcClient } from '../../ttrpc/index.js';

const SERVICE = 'containerd.task.v2.Task';

const STATE_TIMEOUT_MS = 2000;

/** The ttrpc metadata key that carries the namespace to a shim. */
export const NAMESPACE_KEY = 'containerd-namespace-ttrpc';

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromPartial(object: Partial<T>): T;
}

/** Empty answers decode to nothing; any codec's `decode` is skipped. */
const EMPTY = undefined;

/**
 * containerd.task.v2.Task over one ttrpc connection: typed requests in,
 * typed answers out, the namespace on every call. A shim may serve several
 * containers (grouping), so this object is shared by their tasks.
 */
export class ShimClient {
  constructor(
    readonly conn: TtrpcClient,
    readonly namespace: string,
  ) {}

  private async call<Req, Res>(
    method: string,
    reqCodec: Codec<Req>,
    req: Partial<Req>,
    resCodec: Codec<Res> | typeof EMPTY,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<Res> {
    const payload = reqCodec.encode(reqCodec.fromPartial(req)).finish();
    const answer = await this.conn.call(SERVICE, method, payload, {
      metadata: { [NAMESPACE_KEY]: this.namespace },
      ...opts,
    });
    return (resCodec ? resCodec.decode(answer) : undefined) as Res;
  }

  /** Bounded as containerd bounds it (2 s), so one stuck shim cannot hang a task listing. */
  state(req: Partial<StateRequest>): Promise<StateResponse> {
    return this.call('State', StateRequest, req, StateResponse, { timeoutMs: STATE_TIMEOUT_MS });
  }
  create(req: Partial<CreateTaskRequest>): Promise<CreateTaskResponse> {
    return this.call('Create', CreateTaskRequest, req, CreateTaskResponse);
  }
  start(req: Partial<StartRequest>): Promise<StartResponse> {
    return this.call('Start', StartRequest, req, StartResponse);
  }
  delete(req: Partial<DeleteRequest>): Promise<DeleteResponse> {
    return this.call('Delete', DeleteRequest, req, DeleteResponse);
  }
  pids(req: Partial<PidsRequest>): Promise<PidsResponse> {
    return this.call('Pids', PidsRequest, req, PidsResponse);
  }
  pause(req: Partial<PauseRequest>): Promise<void> {
    return this.call('Pause', PauseRequest, req, EMPTY);
  }
  resume(req: Partial<ResumeRequest>): Promise<void> {
    return this.call('Resume', ResumeRequest, req, EMPTY);
  }
  checkpoint(req: Partial<CheckpointTaskRequest>): Promise<void> {
    return this.call('Checkpoint', CheckpointTaskRequest, req, EMPTY);
  }
  kill(req: Partial<KillRequest>): Promise<void> {
    return this.call('Kill', KillRequest, req, EMPTY);
  }
  exec(req: Partial<ExecProcessRequest>): Promise<void> {
    return this.call('Exec', ExecProcessRequest, req, EMPTY);
  }
  resizePty(req: Partial<ResizePtyRequest>): Promise<void> {
    return this.call('ResizePty', ResizePtyRequest, req, EMPTY);
  }
  closeIO(req: Partial<CloseIORequest>): Promise<void> {
    return this.call('CloseIO', CloseIORequest, req, EMPTY);
  }
  update(req: Partial<UpdateTaskRequest>): Promise<void> {
    return this.call('Update', UpdateTaskRequest, req, EMPTY);
  }
  /** Blocks until the process exits: no timeout, but `signal` cancels the wait. */
  wait(req: Partial<WaitRequest>, signal?: AbortSignal): Promise<WaitResponse> {
    return this.call('Wait', WaitRequest, req, WaitResponse, signal ? { signal } : {});
  }
  stats(req: Partial<StatsRequest>): Promise<StatsResponse> {
    return this.call('Stats', StatsRequest, req, StatsResponse);
  }
  connect(req: Partial<ConnectRequest>, timeoutMs?: number): Promise<ConnectResponse> {
    return this.call(
      'Connect',
      ConnectRequest,
      req,
      ConnectResponse,
      timeoutMs ? { timeoutMs } : {},
    );
  }
  shutdown(req: Partial<ShutdownRequest>, timeoutMs?: number): Promise<void> {
    return this.call('Shutdown', ShutdownRequest, req, EMPTY, timeoutMs ? { timeoutMs } : {});
  }
}
