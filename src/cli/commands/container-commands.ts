import type { CommandEntry } from '../command.js';
import { entry } from '../entry.js';

/** The container commands, docker's names with their short forms as aliases. */
export const CONTAINER_COMMANDS: readonly CommandEntry[] = [];
