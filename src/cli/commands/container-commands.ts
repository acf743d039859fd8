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
  // Looking at containers and managing them (ps, logs, exec, inspect, …).
  entry(['container', 'ls'], 'List containers', () => import('./container/ls.js'), {
    aliases: [['ps'], ['container', 'list'], ['container', 'ps']],
  }),
  entry(
    ['container', 'logs'],
    'Fetch the logs of a container',
    () => import('./container/logs.js'),
    {
      aliases: [['logs']],
    },
  ),
  entry(
    ['container', 'exec'],
    'Execute a command in a running container',
    () => import('./container/exec.js'),
    { aliases: [['exec']] },
  ),
  entry(
    ['container', 'wait'],
    'Block until one or more containers stop, then print their exit codes',
    () => import('./container/wait.js'),
    { aliases: [['wait']] },
  ),
  entry(
    ['container', 'inspect'],
    'Display detailed information on one or more containers',
    () => import('./container/inspect.js'),
  ),
  entry(
    ['container', 'top'],
    'Display the running processes of a container',
    () => import('./container/top.js'),
    { aliases: [['top']] },
  ),
  entry(
    ['container', 'stats'],
    'Display a live stream of container(s) resource usage statistics',
    () => import('./container/stats.js'),
    { aliases: [['stats']] },
  ),
  entry(
    ['container', 'port'],
    'List port mappings or a specific mapping for the container',
    () => import('./container/port.js'),
    { aliases: [['port']] },
  ),
  entry(
    ['container', 'prune'],
    'Remove all stopped containers',
    () => import('./container/prune.js'),
  ),
];
