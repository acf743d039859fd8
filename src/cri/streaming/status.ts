/**
 * The Kubernetes `metav1.Status` a remotecommand session ends with on its error stream (JSON in protocol v4, the
 * message alone in older versions), as kubelet writes it.
 */
export interface Status {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason?: string; message: string }[] };
  code?: number;
}

export function successStatus(): Status {
  return { metadata: {}, status: 'Success' };
}

/** A command that exited non-zero: kubectl and crictl exit with `exitCode` from its `ExitCode` cause. */
export function exitCodeStatus(cmd: string[], exitCode: number): Status {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${cmd.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** apimachinery's NewInternalError. */
export function internalErrorStatus(message: string): Status {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}
