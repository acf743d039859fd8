/** Credentials for one registry host, as the CredentialsFn contract gives them. */
export interface Credentials {
  /** '' with a secret: the secret is an identity (refresh) token. */
  username: string;
  secret: string;
  /**
   * A whole `Authorization` header value for the host (a transfer client's
   * `AuthResponse` of type HEADER): sent as it is once the host asks for
   * authorization, whatever its challenge; username and secret unused.
   */
  header?: string;
}

/** Credentials for an endpoint host (`host[:port]`); undefined: anonymous. */
export type CredentialsFn = (host: string) => Promise<Credentials | undefined>;
