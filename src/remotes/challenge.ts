/**
 * `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"`,
 * `Basic realm="…"`. One header may carry several challenges separated by
 * commas, and a response may carry several headers. Scheme and parameter
 * names are case-insensitive (lower-cased here); values may be tokens or
 * quoted strings with `\` escapes.
 */

export type AuthScheme = 'basic' | 'bearer';

export interface Challenge {
  scheme: AuthScheme | string;
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/** Parses every challenge of `values`; unknown schemes are kept, unparseable ones dropped. */
export function parseChallenges(values: readonly string[] | string | undefined): Challenge[] {
  if (values === undefined) return [];
  const out: Challenge[] = [];
  for (const v of typeof values === 'string' ? [values] : values) out.push(...parseHeader(v));
  return out;
}

function parseHeader(header: string): Challenge[] {
  const out: Challenge[] = [];
  let s = header;
  let current: Challenge | undefined;
  for (;;) {
    s = s.replace(/^[\s,]+/, '');
    if (s === '') break;
    const tok = TOKEN.exec(s);
    if (tok === null) break; // garbage: stop here, keep what was parsed
    const word = tok[0];
    const after = s.slice(word.length);
    const eq = /^\s*=/.exec(after);
    if (eq !== null && current !== undefined) {
      // key=value of the current challenge
      let rest = after.slice(eq[0].length).replace(/^\s+/, '');
      let value: string;
      if (rest.startsWith('"')) {
        const q = readQuoted(rest);
        if (q === undefined) break;
        value = q.value;
        rest = q.rest;
      } else {
        const t = TOKEN.exec(rest);
        value = t === null ? '' : t[0];
        rest = rest.slice(value.length);
      }
      current.params[word.toLowerCase()] = value;
      s = rest;
      continue;
    }
    // a new challenge: `scheme` followed by params or a token68
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
    s = after;
  }
  return out;
}

function readQuoted(s: string): { value: string; rest: string } | undefined {
  let value = '';
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      value += s[++i];
    } else if (c === '"') {
      return { value, rest: s.slice(i + 1) };
    } else {
      value += c;
    }
  }
  return undefined;
}

/** The challenge to answer: Bearer before Basic, as containerd prefers; undefined when neither. */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return (
    challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic')
  );
}
