import type { CommandEntry } from '../command.js';
import { entry } from '../entry.js';

/** The container commands, docker's names with their short forms as aliases. */
export const CONTAINER_COMMANDS: readonly CommandEntry[] = [
  // The container's life: run, create, start, stop, restart, kill, rm.
  entry(
    ['container', 'run'],
    'Create and run a new container from an image',
    () => import('./container/run.js'),
    {
      aliases: [['run']],
    },
  ),
  entry(['container', 'create'], 'Create a new container', () => import('./container/create.js'), {
    aliases: [['create']],
  }),
  entry(
    ['container', 'start'],
    'Start one or more stopped containers',
    () => import('./container/start.js'),
    {
      aliases: [['start']],
    },
  ),
  entry(
    ['container', 'stop'],
    'Stop one or more running containers',
    () => import('./container/stop.js'),
    {
      aliases: [['stop']],
    },
  ),
  entry(
    ['container', 'restart'],
    'Restart one or more containers',
    () => import('./container/restart.js'),
    {
      aliases: [['restart']],
    },
  ),
  entry(
    ['container', 'kill'],
    'Kill one or more running containers',
    () => import('./container/kill.js'),
    {
      aliases: [['kill']],
    },
  ),
  entry(['container', 'rm'], 'Remove one or more containers', () => import('./container/rm.js'), {
    aliases: [['rm'], ['container', 'remove']],
  }),
  // runc runs it as the network hooks of the containers `run` and `create` make.
  entry(
    ['internal', 'oci-hook'],
    "Run a container's network hook (runc runs it)",
    () => import('./container/oci-hook.js'),
    { hidden: true },
  ),
];
