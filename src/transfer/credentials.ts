import type { Logger } from '../core/log/index.js';
import type { TransferStream } from '../core/transfer/index.js';

/** Credentials for one registry host; an empty username makes `secret` an identity token. */
export type Credentials = { username: string; secret: string };
export type CredentialsFn = (host: string) => Promise<Credentials | undefined>;

/**
 * Asks the client for credentials on its auth stream, as containerd 1.7's
 * transfer service does: an `AuthRequest` (host, the reference as the client
 * sent it), answered by an `AuthResponse`. One question at a time: the
 * stream carries no request ids. `none`, an empty answer and `header`
 * (which a Basic or token exchange cannot use) mean anonymous.
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
          log.warn(
            { host },
            'an Authorization header from the auth stream is not supported; anonymous',
          );
          return undefined;
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
