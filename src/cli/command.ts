import type { CliContext } from './context.js';

/** The kinds of flag values: docker's (cobra's) bool, string, int and repeatable string flags. */
export type FlagType = 'bool' | 'string' | 'int' | 'list';

export interface FlagSpec {
  /** The long name, without dashes (`rm`, `restart`). */
  readonly name: string;
  /** The one-letter short name (`d` for `-d`). */
  readonly short?: string;
  readonly type: FlagType;
  readonly help: string;
  /** The value's placeholder in help (`string`, `list`, `duration`). */
  readonly value?: string;
  readonly default?: string | number | boolean;
}

/** The values of a command's flags, by long name: booleans, strings, numbers, or string lists for `list` flags. */
export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface ParsedArgs {
  readonly flags: FlagValues;
  /** The positional arguments, in order. */
  readonly args: readonly string[];
}

/**
 * One command: its path (`['container', 'run']`), the other paths it answers
 * to (`['run']`), usage, flags, and its body. `run` returns the exit code
 * (default 0) or throws; errors become exit 125 and one line on stderr
 * (errors.ts).
 */
export interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
  /** Stop parsing flags at the first positional argument (`run IMAGE CMD -x`: `-x` is the container's). */
  readonly stopAtPositional?: boolean;
  readonly minArgs?: number;
  readonly maxArgs?: number;
  run(ctx: CliContext, parsed: ParsedArgs): Promise<number | undefined>;
}

/** Where a command's module is found: loaded only when the command runs, so `berth version` loads nothing else. */
export interface CommandEntry {
  readonly path: readonly string[];
  readonly aliases?: readonly (readonly string[])[];
  readonly summary: string;
  /** Hidden from help and completion (`internal oci-hook`). */
  readonly hidden?: boolean;
  load(): Promise<CommandSpec>;
}
