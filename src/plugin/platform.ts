export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const GO_ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' };

/**
 * The host's platform in Go's spelling (amd64, arm64), as containerd's
 * plugins that touch the host's filesystem report it in `ctr plugins ls`.
 */
export function hostPlatform(): Platform {
  return { os: process.platform, architecture: GO_ARCH[process.arch] ?? process.arch };
}
