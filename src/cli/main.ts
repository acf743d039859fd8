import { ArgsError, parseArgs } from './args.js';
import type { CommandEntry, CommandSpec, FlagSpec, ParsedArgs } from './command.js';
import { COMMANDS, findCommand } from './commands.js';
import { CliContext, type CliIO } from './context.js';
import { CliError, ExitCode, errorLine, exitCodeOf, usageError } from './errors.js';
import { GLOBAL_FLAGS, globalOptions } from './globals.js';
import { commandHelp, mainHelp } from './help.js';

/**
 * berth's entry: global flags, then the command (found by its path or an
 * alias, its module loaded only now), its flags, and its run. Returns the
 * exit code; prints results on stdout and one line per error on stderr.
 */
export async function main(
  argv: readonly string[],
  io: CliIO,
  env: NodeJS.ProcessEnv,
  self: readonly string[],
): Promise<number> {
  let ctx: CliContext | undefined;
  let debug = false;
  try {
    let global: ReturnType<typeof parseArgs>;
    try {
      global = parseArgs(argv, GLOBAL_FLAGS, true);
    } catch (err) {
      throw usageError((err as Error).message, []);
    }
    debug = global.flags.debug === true;
    if (global.flags.version === true) {
      const { clientVersion } = await import('./version-info.js');
      const v = clientVersion();
      io.stdout.write(`berth version ${v.version}, build ${v.revision.slice(0, 12)}\n`);
      return ExitCode.ok;
    }
    if (global.args.length === 0 || (global.flags.help === true && global.args.length === 0)) {
      io.stdout.write(mainHelp(COMMANDS));
      return global.args.length === 0 && global.flags.help !== true
        ? ExitCode.failure
        : ExitCode.ok;
    }
    const found = findCommand(global.args);
    if (found === undefined) {
      throw new CliError(
        `'${global.args[0]}' is not a berth command (see 'berth --help')`,
        ExitCode.failure,
      );
    }
    const { entry, rest } = found;
    if (rest.length === 0 && entry.path.length > 0 && isGroup(entry)) {
      io.stdout.write(mainHelp(COMMANDS, entry.path[0]));
      return ExitCode.ok;
    }
    const spec = await entry.load();
    const parsed = parseCommandArgs(entry, spec, rest);
    if (parsed === 'help') {
      io.stdout.write(commandHelp(entry, spec));
      return ExitCode.ok;
    }
    ctx = new CliContext(globalOptions(global.flags, env), io, env, entry.path, self);
    const code = await spec.run(ctx, parsed);
    return code ?? ExitCode.ok;
  } catch (err) {
    io.stderr.write(`berth: ${errorLine(err)}\n`);
    if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return exitCodeOf(err);
  } finally {
    await ctx?.close();
  }
}

const HELP: FlagSpec = { name: 'help', short: 'h', type: 'bool', help: 'print this help' };

/** The command's flags and arguments, checked against its arity; 'help' for `-h`/`--help`. */
function parseCommandArgs(
  entry: CommandEntry,
  spec: CommandSpec,
  rest: readonly string[],
): ParsedArgs | 'help' {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(rest, [...spec.flags, HELP], spec.stopAtPositional);
  } catch (err) {
    if (err instanceof ArgsError) throw usageError(err.message, entry.path);
    throw err;
  }
  if (parsed.flags.help === true) return 'help';
  delete parsed.flags.help;
  const n = parsed.args.length;
  if (spec.minArgs !== undefined && n < spec.minArgs) {
    throw usageError(
      `"berth ${entry.path.join(' ')}" requires ${spec.minArgs === spec.maxArgs ? 'exactly' : 'at least'} ${spec.minArgs} argument${spec.minArgs === 1 ? '' : 's'}: berth ${entry.path.join(' ')} ${spec.usage}`,
      entry.path,
    );
  }
  if (spec.maxArgs !== undefined && n > spec.maxArgs) {
    throw usageError(
      `"berth ${entry.path.join(' ')}" accepts ${spec.maxArgs === 0 ? 'no arguments' : `at most ${spec.maxArgs} argument${spec.maxArgs === 1 ? '' : 's'}`}: berth ${entry.path.join(' ')} ${spec.usage}`,
      entry.path,
    );
  }
  return parsed;
}

/** A group (`image`, `container`) typed alone: show its commands. */
function isGroup(entry: CommandEntry): boolean {
  return (
    entry.path.length === 1 &&
    COMMANDS.some((e) => e.path.length > 1 && e.path[0] === entry.path[0])
  );
}
