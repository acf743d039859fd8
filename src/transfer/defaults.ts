/**
 * Where berthd reads containerd's hosts.toml registry configuration
 * (`<dir>/<host>/hosts.toml`) by default: the transfer plugin's
 * `config_path`. A module of its own so the daemon's config code can name it
 * without loading the transfer plugin.
 */
export const DEFAULT_REGISTRY_CONFIG_PATH = '/etc/berth/certs.d';
