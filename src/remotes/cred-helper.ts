/**
 * Docker credential helpers: `docker-credential-<name> get` reads the server
 * URL on stdin and prints `{"ServerURL","Username","Secret"}`; a Username of
 * `<token>` means Secret is an identity (refresh) token. A helper that does
 * not know the server says "credentials not found" and exits non-zero.
 */
import { spawn } from 'node:child_process';
import { invalidArgument, unavailable } from '../core/errdefs/index.js';
import type { Credentials } from './credentials.js';

const HELPER_TIMEOUT_MS = 30_000;
const MAX_OUTPUT = 64 * 1024;
/** The Username a helper gives for an identity token. */
export const TOKEN_USERNAME = '<token>';

/** The program a helper name runs (`desktop` → `docker-credential-desktop`, or an absolute path as is). */
export function helperProgram(name: string): string {
  return name.startsWith('/') ? name : `docker-credential-${name}`;
}

/** Asks helper `name` for `server`'s credentials; undefined when it has none. */
export function helperGet(name: string, server: string): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._/-]+$/.test(name)) {
    return Promise.reject(
      invalidArgument(`credential helper name "${name}" is not a program name`),
    );
  }
  const program = helperProgram(name);
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    child.stdout.on('data', (b: Buffer) => {
      if (out.length < MAX_OUTPUT) out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < MAX_OUTPUT) err += b.toString();
    });
    child.stdin.on('error', () => {}); // a helper that exits without reading
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(unavailable(`credential helper ${program} for ${server}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const text = (out + err).trim();
      if (code !== 0) {
        if (/credentials not found/i.test(text)) {
          resolve(undefined);
          return;
        }
        const how = signal ? `signal ${signal}` : `exit status ${code}`;
        reject(
          unavailable(`credential helper ${program} for ${server}: ${how}: ${text.slice(0, 200)}`),
        );
        return;
      }
      let parsed: { Username?: unknown; Secret?: unknown };
      try {
        parsed = JSON.parse(out) as typeof parsed;
      } catch {
        reject(unavailable(`credential helper ${program} for ${server}: output is not JSON`));
        return;
      }
      const username = typeof parsed.Username === 'string' ? parsed.Username : '';
      const secret = typeof parsed.Secret === 'string' ? parsed.Secret : '';
      if (secret === '' && username === '') {
        resolve(undefined);
        return;
      }
      resolve({ username: username === TOKEN_USERNAME ? '' : username, secret });
    });
    child.stdin.end(server);
  });
}

/** Runs `docker-credential-<name> <action>` with `input` on stdin; answers its exit code and output. */
function runHelper(
  name: string,
  action: 'store' | 'erase',
  server: string,
  input: string,
): Promise<{ code: number; text: string }> {
  if (!/^[A-Za-z0-9._/-]+$/.test(name)) {
    return Promise.reject(
      invalidArgument(`credential helper name "${name}" is not a program name`),
    );
  }
  const program = helperProgram(name);
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    let text = '';
    const keep = (b: Buffer) => {
      if (text.length < MAX_OUTPUT) text += b.toString();
    };
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.stdin.on('error', () => {});
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(
        unavailable(`credential helper ${program} ${action} for ${server}: ${e.message}`, {
          cause: e,
        }),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? -1 : (code ?? -1), text: text.trim() });
    });
    child.stdin.end(input);
  });
}

/** `docker-credential-<name> store`: `{"ServerURL","Username","Secret"}` on stdin. */
export async function helperStore(
  name: string,
  server: string,
  username: string,
  secret: string,
): Promise<void> {
  const body = JSON.stringify({
    ServerURL: server,
    Username: username === '' ? TOKEN_USERNAME : username,
    Secret: secret,
  });
  const r = await runHelper(name, 'store', server, body);
  if (r.code !== 0) {
    throw unavailable(
      `credential helper ${helperProgram(name)} store for ${server}: exit status ${r.code}: ${r.text.slice(0, 200)}`,
    );
  }
}

/** `docker-credential-<name> erase`: the server URL on stdin; false when it had nothing. */
export async function helperErase(name: string, server: string): Promise<boolean> {
  const r = await runHelper(name, 'erase', server, server);
  if (r.code === 0) return true;
  if (/credentials not found/i.test(r.text)) return false;
  throw unavailable(
    `credential helper ${helperProgram(name)} erase for ${server}: exit status ${r.code}: ${r.text.slice(0, 200)}`,
  );
}
