import { writeFileSync } from 'node:fs';
import { invalidArgument } from '../core/errdefs/index.js';

/** The kernel's bounds of oom_score_adj (OOM_SCORE_ADJ_MIN/MAX). */
export const OOM_SCORE_ADJ_MIN = -1000;
export const OOM_SCORE_ADJ_MAX = 1000;

/**
 * Sets process `pid`'s oom_score_adj. Children (shims) inherit it. Lowering
 * it below its current value needs CAP_SYS_RESOURCE.
 */
export function setOOMScoreAdj(pid: number | 'self', score: number): void {
  if (!Number.isInteger(score) || score < OOM_SCORE_ADJ_MIN || score > OOM_SCORE_ADJ_MAX) {
    throw invalidArgument(
      `oom score ${score} out of range: must be an integer from ${OOM_SCORE_ADJ_MIN} to ${OOM_SCORE_ADJ_MAX}`,
    );
  }
  writeFileSync(`/proc/${pid}/oom_score_adj`, String(score));
}
