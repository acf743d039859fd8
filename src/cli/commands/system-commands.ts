import type { CommandEntry } from '../command.js';
import { entry } from '../entry.js';

/** The system commands, docker's names with their short forms as aliases. */
export const SYSTEM_COMMANDS: readonly CommandEntry[] = [
  entry(['version'], 'Show the berth version information', () => import('./version.js')),
  entry(
    ['inspect'],
    'Return low-level information on containers or images',
    () => import('./system/inspect.js'),
  ),
  entry(
    ['system', 'events'],
    'Get real time events from the daemon',
    () => import('./system/events.js'),
    {
      aliases: [['events']],
    },
  ),
  entry(['system', 'info'], 'Display system-wide information', () => import('./system/info.js'), {
    aliases: [['info']],
  }),
  entry(['system', 'prune'], 'Remove unused data', () => import('./system/prune.js')),
  entry(
    ['completion'],
    'Generate the autocompletion script for the specified shell',
    () => import('./system/completion.js'),
  ),
  entry(['namespace', 'ls'], 'List containerd namespaces', () => import('./namespace/ls.js'), {
    aliases: [['namespace', 'list']],
  }),
  entry(['namespace', 'create'], 'Create a new namespace', () => import('./namespace/create.js')),
  entry(['namespace', 'rm'], 'Remove one or more namespaces', () => import('./namespace/rm.js'), {
    aliases: [['namespace', 'remove']],
  }),
];
