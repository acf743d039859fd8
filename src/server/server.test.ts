import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  NamespacesClient,
  NamespacesService,
} from '../api/containerd/services/namespaces/v1/namespaces.js';
import { VersionService } from '../api/containerd/services/version/v1/version.js';
import { CODE_TO_KIND } from '../client/errors.js';
import { BerthClient } from '../client/index.js';
import { ERROR_KINDS, type ErrorKind, newError } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import { KIND_TO_CODE } from './grpc-errors.js';
import { GrpcServer } from './server.js';
import { unary } from './service.js';

/**
 * The server layer against a real unix socket, with test services standing
 * in for real ones: namespace checks, error mapping, UNIMPLEMENTED.
 */
describe('GrpcServer', () => {
  let dir: TempDir;
  let server: GrpcServer;
  let socket: string;
  let lastNamespace: string | undefined;
  let lastLease: string | undefined;
  let throwKind: ErrorKind | undefined;

  before(async () => {
    dir = tempDir();
    socket = join(dir.path, 's', 'test.sock');
    server = new GrpcServer(
      {
        address: socket,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        log: nullLogger,
      },
      [
        {
          // A namespaced service: the header is checked before the handler.
          name: 'containerd.services.namespaces.v1.Namespaces',
          definition: NamespacesService,
          namespaced: true,
          handlers: {
            List: unary((ctx) => {
              lastNamespace = ctx.namespace;
              lastLease = ctx.lease;
              if (throwKind) throw newError(throwKind, `thing "x"`);
              return { namespaces: [] };
            }),
          },
        },
        {
          name: 'containerd.services.version.v1.Version',
          definition: VersionService,
          namespaced: false,
          handlers: {
            Version: unary(() => {
              throw new Error('boom');
            }),
          },
        },
      ],
    );
    await server.start();
  });
  after(async () => {
    await server.stop();
    dir.remove();
  });

  const list = (md: Record<string, string>) => {
    const c = new NamespacesClient(`unix:${socket}`, credentials.createInsecure());
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(md)) metadata.set(k, v);
    return new Promise<ServiceError | null>((resolve) => {
      c.list({ filter: '' }, metadata, (err) => {
        c.close();
        resolve(err);
      });
    });
  };

  it('requires the namespace header on namespaced services', async () => {
    const err = await list({});
    assert.equal(err?.code, status.FAILED_PRECONDITION);
    assert.equal(err?.details, 'namespace is required: failed precondition');
  });

  it('rejects an invalid namespace name', async () => {
    const err = await list({ 'containerd-namespace': 'not valid!' });
    assert.equal(err?.code, status.INVALID_ARGUMENT);
    assert.match(err?.details ?? '', /namespace validation: identifier "not valid!" must match/);
  });

  it('passes namespace and lease to the handler', async () => {
    assert.equal(await list({ 'containerd-namespace': 'ns1', 'containerd-lease': 'l1' }), null);
    assert.equal(lastNamespace, 'ns1');
    assert.equal(lastLease, 'l1');
  });

  it('maps every error kind to its code, and the client maps it back', async () => {
    const client = new BerthClient(socket, { namespace: 'ns1' });
    try {
      for (const kind of ERROR_KINDS) {
        throwKind = kind;
        const err = await client.namespaces.list().then(
          () => assert.fail('expected an error'),
          (e: unknown) => e as Error & { kind: ErrorKind },
        );
        const code = KIND_TO_CODE[kind];
        const back = CODE_TO_KIND[code];
        assert.equal(err.kind, back, `${kind} → ${status[code]} → ${back}`);
        assert.match(err.message, /^thing "x"/);
        // Only the kinds that share a code with another collapse.
        if (!['conflict', 'not_modified'].includes(kind)) assert.equal(back, kind);
      }
    } finally {
      throwKind = undefined;
      client.close();
    }
  });

  it('answers UNKNOWN for unclassified errors and UNIMPLEMENTED for missing methods', async () => {
    const client = new BerthClient(socket);
    try {
      await assert.rejects(client.version(), (e: Error & { kind: string }) => {
        return e.kind === 'unknown' && e.message === 'boom';
      });
      await assert.rejects(client.namespaces.get('x'), (e: Error & { kind: string }) => {
        return e.kind === 'not_implemented' && /Namespaces\/Get is not implemented/.test(e.message);
      });
      await assert.rejects(client.introspection.server(), (e: Error & { kind: string }) => {
        return e.kind === 'not_implemented';
      });
    } finally {
      client.close();
    }
  });

  it('refuses to start on a socket another server answers', async () => {
    const second = new GrpcServer({ address: socket, log: nullLogger }, []);
    await assert.rejects(second.start(), /a server is listening on it \(another daemon\?\)/);
  });
});
