import type { Logger } from '../core/log/index.js';
import type { TransferStream } from '../core/transfer/index.js';

/**
 * Credentials for one registry host (src/remotes' Credentials): an empty
 * username makes `secret` an identity token; `header` is a whole
 * Authorization header value.
 */
export type Credentials = { username: string; secret: string; header?: string };
export type CredentialsFn = (host: string) => Promise<Credentials | undefined>;

/**
 * Asks the client for credentials on its auth stream, as containerd 1.7's
 * transfer service does: an `AuthRequest` (host, the reference as the client
 * sent it), answered by an `AuthResponse`. One question at a time: the
 * stream carries no request ids. `header` gives a whole Authorization
 * header value, sent as it is (containerd 1.7.13 drops it and goes
 * anonymous); `none` and an empty answer mean anonymous.
 */
export function credentialsFromStream(
  stream: TransferStream,
  reference: string,
  log: Logger,
): CredentialsFn {
  let queue: Promise<unknown> = Promise.resolve();
  const ask = async (host: string): Promise<Credentials | undefined> => {
    await stream.send({ kind: 'authRequest', host, reference, wwwAuthenticate: [] });
    for (;;) {
      const msg = await stream.recv();
      if (msg === undefined) return undefined;
      if (msg.kind !== 'authResponse') {
        log.warn({ stream: stream.id, kind: msg.kind }, 'unexpected message on the auth stream');
        continue;
      }
      switch (msg.authType) {
        case 'credentials':
          return msg.username === '' && msg.secret === ''
            ? undefined
            : { username: msg.username, secret: msg.secret };
        case 'refresh':
          return msg.secret === '' ? undefined : { username: '', secret: msg.secret };
        case 'header':
          return msg.secret === '' ? undefined : { username: '', secret: '', header: msg.secret };
        default:
          return undefined;
      }
    }
  };
  return (host) => {
    const answer = queue.then(() => ask(host));
    queue = answer.catch(() => undefined);
    return answer;
  };
}
