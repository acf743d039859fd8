/**
 * The registry a `login`/`logout` SERVER argument names, as docker reads
 * it: a host with an optional scheme and path (`https://r.example/v1/`);
 * none, or any of Docker Hub's names, is Docker Hub (`docker.io`), whose
 * credentials docker keeps under `https://index.docker.io/v1/`.
 */
import { CliError } from '../../errors.js';

const HUB = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

/** The registry domain of a SERVER argument (`docker.io` for Docker Hub). */
export function serverDomain(server: string | undefined): string {
  if (server === undefined || server === '') return 'docker.io';
  const host = server.replace(/^[a-z]+:\/\//i, '').split('/')[0] ?? '';
  if (host === '' || /[\s@]/.test(host)) throw new CliError(`invalid registry "${server}"`);
  return HUB.has(host.toLowerCase()) ? 'docker.io' : host;
}
