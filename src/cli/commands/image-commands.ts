import type { CommandEntry } from '../command.js';
import { entry } from '../entry.js';

/** The image commands, docker's names with their short forms as aliases. */
export const IMAGE_COMMANDS: readonly CommandEntry[] = [
  entry(['image', 'pull'], 'Download an image from a registry', () => import('./image/pull.js'), {
    aliases: [['pull']],
  }),
  entry(['image', 'push'], 'Upload an image to a registry', () => import('./image/push.js'), {
    aliases: [['push']],
  }),
  entry(['image', 'ls'], 'List images', () => import('./image/ls.js'), {
    aliases: [['images'], ['image', 'list']],
  }),
  entry(['image', 'rm'], 'Remove one or more images', () => import('./image/rm.js'), {
    aliases: [['rmi'], ['image', 'remove']],
  }),
  entry(
    ['image', 'tag'],
    'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
    () => import('./image/tag.js'),
    { aliases: [['tag']] },
  ),
  entry(
    ['image', 'inspect'],
    'Display detailed information on one or more images',
    () => import('./image/inspect.js'),
  ),
  entry(
    ['image', 'load'],
    'Load an image from a tar archive or STDIN',
    () => import('./image/load.js'),
    { aliases: [['load']] },
  ),
  entry(
    ['image', 'save'],
    'Save one or more images to a tar archive (streamed to STDOUT by default)',
    () => import('./image/save.js'),
    { aliases: [['save']] },
  ),
  entry(['image', 'prune'], 'Remove unused images', () => import('./image/prune.js')),
  entry(['login'], 'Log in to a registry', () => import('./image/login.js')),
  entry(['logout'], 'Log out from a registry', () => import('./image/logout.js')),
];
