/** Credentials for one registry host, as the CredentialsFn contract gives them. */
export interface Credentials {
  /** '' with a secret: the secret is an identity (refresh) token. */
  username: string;
  secret: string;
}

/** Credentials for an endpoint host (`host[:port]`); undefined: anonymous. */
export type CredentialsFn = (host: string) => Promise<Credentials | undefined>;
