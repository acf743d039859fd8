/** berthd's defaults (DESIGN.md); flags and the TOML config override them. */
export const DEFAULTS = {
  address: '/run/berth/berth.sock',
  root: '/var/lib/berth',
  state: '/run/berth',
  config: '/etc/berth/config.toml',
  logLevel: 'info',
} as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
