import type { CommandEntry } from '../command.js';
import { entry } from '../entry.js';

/** The system commands, docker's names with their short forms as aliases. */
export const SYSTEM_COMMANDS: readonly CommandEntry[] = [
  entry(['version'], 'Show the berth version information', () => import('./version.js')),
];
