/**
 * @module
 * /etc/passwd and /etc/group parsed as containerd parses them (with
 * moby/sys/user): blank lines skipped, fields split on `:`, numbers that do
 * not parse read as 0, missing fields empty; group lines starting with `#`
 * are comments (passwd lines are not).
 */

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  /** Member user names. */
  readonly members: readonly string[];
}

/** The entries of a passwd file. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of lines(text)) {
    const [name = '', , uid = '', gid = '', , home = '', shell = ''] = line.split(':');
    out.push({ name, uid: atoiOrZero(uid), gid: atoiOrZero(gid), home, shell });
  }
  return out;
}

/** The entries of a group file. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of lines(text)) {
    if (line.startsWith('#')) continue;
    const [name = '', , gid = '', list] = line.split(':');
    out.push({ name, gid: atoiOrZero(gid), members: list ? list.split(',') : [] });
  }
  return out;
}

function* lines(text: string): Generator<string> {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line !== '') yield line;
  }
}

/**
 * Go's strconv.Atoi: an optional sign and decimal digits; undefined
 * otherwise, and outside the 64-bit range.
 */
export function atoi(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  if (v > 0x7fff_ffff_ffff_ffffn || v < -0x8000_0000_0000_0000n) return undefined;
  return Number(v);
}

/** Go's `uint32(v)` of an int: wraps modulo 2^32. */
export function toUint32(v: number): number {
  return Number(BigInt.asUintN(32, BigInt(v)));
}

function atoiOrZero(s: string): number {
  return atoi(s) ?? 0;
}
