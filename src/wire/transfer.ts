import { StreamInit } from '../api/containerd/services/streaming/v1/streaming.js';
import type { TransferRequest as TransferRequestPb } from '../api/containerd/services/transfer/v1/transfer.js';
import type { Platform as PlatformPb } from '../api/containerd/types/platform.js';
import {
  ImageStore,
  type ImageStore as ImageStorePb,
} from '../api/containerd/types/transfer/imagestore.js';
import {
  ImageExportStream,
  ImageImportStream,
} from '../api/containerd/types/transfer/importexport.js';
import { Progress } from '../api/containerd/types/transfer/progress.js';
import {
  AuthRequest,
  AuthResponse,
  AuthType as AuthTypePb,
  OCIRegistry,
} from '../api/containerd/types/transfer/registry.js';
import { Data, WindowUpdate } from '../api/containerd/types/transfer/streaming.js';
import type { Any } from '../api/google/protobuf/any.js';
import { Empty } from '../api/google/protobuf/empty.js';
import { asBuffer } from '../core/any/index.js';
import { invalidArgument, notImplemented } from '../core/errdefs/index.js';
import type {
  AuthType,
  StreamMessage,
  TransferEndpoint,
  TransferRequest,
} from '../core/transfer/index.js';
import { fromTimestamp, toTimestamp } from './timestamp.js';

/*
 * containerd 1.7's transfer messages ⇄ the domain. Anys carry bare full
 * names as type URLs (`containerd.types.transfer.Data`), as containerd's
 * typeurl writes them; a `type.googleapis.com/` prefix is accepted too.
 */

const T = 'containerd.types.transfer.';
export const TYPE = {
  ociRegistry: `${T}OCIRegistry`,
  imageStore: `${T}ImageStore`,
  importStream: `${T}ImageImportStream`,
  exportStream: `${T}ImageExportStream`,
  progress: `${T}Progress`,
  authRequest: `${T}AuthRequest`,
  authResponse: `${T}AuthResponse`,
  data: `${T}Data`,
  windowUpdate: `${T}WindowUpdate`,
  streamInit: 'containerd.services.streaming.v1.StreamInit',
  empty: 'google.protobuf.Empty',
} as const;

/** The message name of a type URL (what follows its last `/`). */
export function typeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

function any(typeUrl: string, value: Uint8Array): Any {
  return { typeUrl, value: asBuffer(value) };
}

/** The server's answer to a StreamInit. */
export function emptyAny(): Any {
  return any(TYPE.empty, Empty.encode({}).finish());
}

/** The id of a Streaming call's first message; `invalid_argument` for anything but a StreamInit. */
export function streamInitFromAny(a: Any): string {
  if (typeName(a.typeUrl) !== TYPE.streamInit) {
    throw invalidArgument(
      `first message of a stream must be ${TYPE.streamInit}, not ${JSON.stringify(a.typeUrl)}`,
    );
  }
  const id = StreamInit.decode(a.value).id;
  if (id === '') throw invalidArgument('stream id is required');
  return id;
}

export function streamInitToAny(id: string): Any {
  return any(TYPE.streamInit, StreamInit.encode({ id }).finish());
}

const AUTH_TYPES: Record<AuthType, AuthTypePb> = {
  none: AuthTypePb.NONE,
  credentials: AuthTypePb.CREDENTIALS,
  refresh: AuthTypePb.REFRESH,
  header: AuthTypePb.HEADER,
};

function authTypeFromProto(t: AuthTypePb): AuthType {
  switch (t) {
    case AuthTypePb.CREDENTIALS:
      return 'credentials';
    case AuthTypePb.REFRESH:
      return 'refresh';
    case AuthTypePb.HEADER:
      return 'header';
    default:
      return 'none';
  }
}

export function streamMessageFromAny(a: Any): StreamMessage {
  switch (typeName(a.typeUrl)) {
    case TYPE.data:
      return { kind: 'data', data: Data.decode(a.value).data };
    case TYPE.windowUpdate:
      return { kind: 'windowUpdate', update: WindowUpdate.decode(a.value).update };
    case TYPE.progress: {
      const p = Progress.decode(a.value);
      return {
        kind: 'progress',
        progress: {
          event: p.event,
          name: p.name,
          parents: p.parents,
          progress: Number(p.progress),
          total: Number(p.total),
        },
      };
    }
    case TYPE.authRequest: {
      const r = AuthRequest.decode(a.value);
      return {
        kind: 'authRequest',
        host: r.host,
        reference: r.reference,
        wwwAuthenticate: r.wwwauthenticate,
      };
    }
    case TYPE.authResponse: {
      const r = AuthResponse.decode(a.value);
      return {
        kind: 'authResponse',
        authType: authTypeFromProto(r.authType),
        secret: r.secret,
        username: r.username,
        ...(r.expireAt !== undefined && { expireAt: fromTimestamp(r.expireAt) }),
      };
    }
    default:
      return { kind: 'other', typeUrl: a.typeUrl };
  }
}

export function streamMessageToAny(m: StreamMessage): Any {
  switch (m.kind) {
    case 'data':
      return any(TYPE.data, Data.encode({ data: asBuffer(m.data) }).finish());
    case 'windowUpdate':
      return any(TYPE.windowUpdate, WindowUpdate.encode({ update: m.update }).finish());
    case 'progress':
      return any(
        TYPE.progress,
        Progress.encode({
          event: m.progress.event,
          name: m.progress.name,
          parents: m.progress.parents ?? [],
          progress: BigInt(Math.trunc(m.progress.progress)),
          total: BigInt(Math.trunc(m.progress.total)),
        }).finish(),
      );
    case 'authRequest':
      return any(
        TYPE.authRequest,
        AuthRequest.encode({
          host: m.host,
          reference: m.reference,
          wwwauthenticate: m.wwwAuthenticate,
        }).finish(),
      );
    case 'authResponse':
      return any(
        TYPE.authResponse,
        AuthResponse.encode({
          authType: AUTH_TYPES[m.authType],
          secret: m.secret,
          username: m.username,
          ...(m.expireAt !== undefined && { expireAt: toTimestamp(m.expireAt) }),
        }).finish(),
      );
    case 'other':
      throw invalidArgument(`cannot encode a message of type ${JSON.stringify(m.typeUrl)}`);
  }
}

/** `os/architecture[/variant]`; '' for an absent or empty platform. */
export function platformFromProto(p: PlatformPb | undefined): string {
  if (p === undefined || (p.os === '' && p.architecture === '')) return '';
  return [p.os, p.architecture, ...(p.variant === '' ? [] : [p.variant])].join('/');
}

export function platformToProto(s: string): PlatformPb {
  const [os = '', architecture = '', variant = ''] = s === '' ? [] : s.split('/');
  return { os, architecture, variant, osVersion: '' };
}

function imageStoreFromProto(s: ImageStorePb): TransferEndpoint {
  return {
    kind: 'imageStore',
    name: s.name,
    labels: { ...s.labels },
    platforms: s.platforms.map(platformFromProto).filter((p) => p !== ''),
    allMetadata: s.allMetadata,
    manifestLimit: s.manifestLimit,
    extraReferences: s.extraReferences.map((r) => ({
      name: r.name,
      isPrefix: r.isPrefix,
      allowOverwrite: r.allowOverwrite,
      addDigest: r.addDigest,
      skipNamedDigest: r.skipNamedDigest,
    })),
    unpacks: s.unpacks.map((u) => ({
      platform: platformFromProto(u.platform),
      snapshotter: u.snapshotter,
    })),
  };
}

/**
 * A source or destination Any as the domain's endpoint. Types the daemon
 * cannot transfer from or to are `not_implemented`, naming the type.
 */
export function endpointFromAny(a: Any | undefined, what: string): TransferEndpoint {
  if (a === undefined || a.typeUrl === '') throw invalidArgument(`${what} is required`);
  switch (typeName(a.typeUrl)) {
    case TYPE.ociRegistry: {
      const r = OCIRegistry.decode(a.value);
      if (r.reference === '') throw invalidArgument(`${what}: OCIRegistry reference is required`);
      return {
        kind: 'registry',
        reference: r.reference,
        authStream: r.resolver?.authStream ?? '',
        headers: { ...r.resolver?.headers },
        hostDir: r.resolver?.hostDir ?? '',
        defaultScheme: r.resolver?.defaultScheme ?? '',
      };
    }
    case TYPE.imageStore:
      return imageStoreFromProto(ImageStore.decode(a.value));
    case TYPE.importStream: {
      const s = ImageImportStream.decode(a.value);
      return {
        kind: 'importStream',
        stream: s.stream,
        mediaType: s.mediaType,
        forceCompress: s.forceCompress,
      };
    }
    case TYPE.exportStream: {
      const s = ImageExportStream.decode(a.value);
      return {
        kind: 'exportStream',
        stream: s.stream,
        mediaType: s.mediaType,
        platforms: s.platforms.map(platformFromProto).filter((p) => p !== ''),
        allPlatforms: s.allPlatforms,
        skipCompatibilityManifest: s.skipCompatibilityManifest,
        skipNonDistributable: s.skipNonDistributable,
      };
    }
    default:
      throw notImplemented(`transfer ${what} of type ${JSON.stringify(a.typeUrl)}`);
  }
}

export function endpointToAny(e: TransferEndpoint): Any {
  switch (e.kind) {
    case 'registry':
      return any(
        TYPE.ociRegistry,
        OCIRegistry.encode({
          reference: e.reference,
          resolver: {
            authStream: e.authStream,
            headers: e.headers,
            hostDir: e.hostDir,
            defaultScheme: e.defaultScheme,
          },
        }).finish(),
      );
    case 'imageStore':
      return any(
        TYPE.imageStore,
        ImageStore.encode({
          name: e.name,
          labels: e.labels,
          platforms: e.platforms.map(platformToProto),
          allMetadata: e.allMetadata,
          manifestLimit: e.manifestLimit,
          extraReferences: e.extraReferences,
          unpacks: e.unpacks.map((u) => ({
            ...(u.platform !== '' && { platform: platformToProto(u.platform) }),
            snapshotter: u.snapshotter,
          })),
        }).finish(),
      );
    case 'importStream':
      return any(TYPE.importStream, ImageImportStream.encode(e).finish());
    case 'exportStream':
      return any(
        TYPE.exportStream,
        ImageExportStream.encode({ ...e, platforms: e.platforms.map(platformToProto) }).finish(),
      );
  }
}

export function transferRequestFromProto(req: TransferRequestPb): TransferRequest {
  return {
    source: endpointFromAny(req.source, 'source'),
    destination: endpointFromAny(req.destination, 'destination'),
    progressStream: req.options?.progressStream ?? '',
  };
}

export function transferRequestToProto(req: TransferRequest): TransferRequestPb {
  return {
    source: endpointToAny(req.source),
    destination: endpointToAny(req.destination),
    options: { progressStream: req.progressStream },
  };
}
