import { defaultSpec } from '../core/platforms/index.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/**
 * The host's platform in Go's spelling (amd64, arm64), as containerd's
 * plugins that touch the host's filesystem report it in `ctr plugins ls`
 * (core/platforms' default, without the variant).
 */
export function hostPlatform(): Platform {
  const { os, architecture } = defaultSpec();
  return { os, architecture };
}
