import type { CommandEntry } from '../command.js';
import { entry } from '../entry.js';

/** The image commands, docker's names with their short forms as aliases. */
export const IMAGE_COMMANDS: readonly CommandEntry[] = [];
