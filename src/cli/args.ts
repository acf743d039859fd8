import type { FlagSpec, FlagValues, ParsedArgs } from './command.js';

/** A flag-parsing failure; the caller turns it into a usage error of the command. */
export class ArgsError extends Error {}

/**
 * Parses argv the way docker's CLI (cobra/pflag) does: `--name value`,
 * `--name=value`, `-n value`, `-nvalue`, combined short booleans (`-it`,
 * `-dit`), `--bool=false`, repeatable list flags (`-e A -e B`), `--` ending
 * the flags. With `stopAtPositional`, the first positional argument ends
 * the flags (`run IMAGE ls -l`: `-l` belongs to the container's command).
 */
export function parseArgs(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  stopAtPositional = false,
): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const flags: FlagValues = {};
  for (const s of specs) {
    if (s.type === 'list') flags[s.name] = [];
    else if (s.default !== undefined) flags[s.name] = s.default;
    else if (s.type === 'bool') flags[s.name] = false;
  }
  const args: string[] = [];
  let i = 0;
  const next = (shown: string): string => {
    if (i >= argv.length) throw new ArgsError(`flag needs an argument: ${shown}`);
    return argv[i++] as string;
  };
  while (i < argv.length) {
    const a = argv[i++] as string;
    if (a === '--') {
      args.push(...argv.slice(i));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = byLong.get(name);
      if (spec === undefined) throw new ArgsError(`unknown flag: --${name}`);
      if (spec.type === 'bool') {
        flags[name] = eq < 0 ? true : parseBool(a.slice(eq + 1), `--${name}`);
      } else {
        set(flags, spec, eq < 0 ? next(`--${name}`) : a.slice(eq + 1), `--${name}`);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // A cluster of short flags: booleans until one that takes a value,
      // which takes the rest of the cluster or the next argument.
      for (let j = 1; j < a.length; j++) {
        const ch = a[j] as string;
        const spec = byShort.get(ch);
        if (spec === undefined) {
          throw new ArgsError(`unknown shorthand flag: '${ch}' in ${a}`);
        }
        if (spec.type === 'bool') {
          if (a[j + 1] === '=') {
            flags[spec.name] = parseBool(a.slice(j + 2), `-${ch}`);
            break;
          }
          flags[spec.name] = true;
          continue;
        }
        let rest = a.slice(j + 1);
        if (rest.startsWith('=')) rest = rest.slice(1);
        set(flags, spec, rest !== '' ? rest : next(`-${ch}`), `-${ch}`);
        break;
      }
      continue;
    }
    args.push(a);
    if (stopAtPositional) {
      args.push(...argv.slice(i));
      break;
    }
  }
  return { flags, args };
}

function set(flags: FlagValues, spec: FlagSpec, value: string, shown: string): void {
  switch (spec.type) {
    case 'list':
      (flags[spec.name] as string[]).push(value);
      return;
    case 'int': {
      if (!/^-?\d+$/.test(value)) {
        throw new ArgsError(`invalid argument "${value}" for "${shown}" flag: not an integer`);
      }
      flags[spec.name] = Number(value);
      return;
    }
    default:
      flags[spec.name] = value;
  }
}

function parseBool(v: string, shown: string): boolean {
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(v)) return true;
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(v)) return false;
  throw new ArgsError(`invalid argument "${v}" for "${shown}" flag: not a boolean`);
}

/** Reads a string flag (undefined when unset). */
export function str(flags: FlagValues, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** Reads a boolean flag. */
export function bool(flags: FlagValues, name: string): boolean {
  return flags[name] === true;
}

/** Reads an int flag (undefined when unset). */
export function int(flags: FlagValues, name: string): number | undefined {
  const v = flags[name];
  return typeof v === 'number' ? v : undefined;
}

/** Reads a list flag. */
export function list(flags: FlagValues, name: string): string[] {
  const v = flags[name];
  return Array.isArray(v) ? v : [];
}
