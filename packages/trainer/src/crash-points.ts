/**
 * A test hook for the kill tests (tools/reliability/kill-test.js): `SCRL_CRASH_AT=<point>:<n>`
 * makes the process SIGKILL itself the n-th time it reaches `<point>` (1-based), so a test can
 * stop a run exactly inside a step, inside a checkpoint write or between a checkpoint's tensor
 * file and its sidecar, moments a timer rarely hits. Without the variable it does nothing.
 */

/** Places a run can be killed at, in the order they occur. */
export const CRASH_POINTS = [
  /** Inside a step: gradients computed, optimiser not yet updated. */
  'step',
  /** After a step's metrics line, before its checkpoint. */
  'after-metrics',
  /** Half of a checkpoint's tensor file written to its temporary name. */
  'checkpoint-tensors',
  /** Tensor file in place, its sidecar not yet written. */
  'checkpoint-between',
  /** Half of the sidecar written to its temporary name. */
  'checkpoint-sidecar',
  /** Pruning old checkpoints: an old sidecar removed, its tensor file not yet. */
  'checkpoint-prune',
  /** Rewriting metrics.jsonl on resume: temporary file half written. */
  'metrics-truncate',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

const reached = new Map<string, number>();
let spec: { point: string; n: number } | null | undefined;

function parseSpec(): { point: string; n: number } | null {
  const raw = process.env.SCRL_CRASH_AT;
  if (!raw) return null;
  const m = /^([a-z-]+):(\d+)$/.exec(raw);
  if (!m || !(CRASH_POINTS as readonly string[]).includes(m[1]) || Number(m[2]) < 1) {
    throw new Error(`SCRL_CRASH_AT must be <point>:<n> with n >= 1 and point one of ${CRASH_POINTS.join(', ')}; got '${raw}'.`);
  }
  return { point: m[1], n: Number(m[2]) };
}

/** SIGKILLs this process if `SCRL_CRASH_AT` names this point and this arrival. */
export function crashPoint(point: CrashPoint): void {
  if (spec === undefined) spec = parseSpec();
  if (spec === null || spec.point !== point) return;
  const count = (reached.get(point) ?? 0) + 1;
  reached.set(point, count);
  if (count === spec.n) process.kill(process.pid, 'SIGKILL');
}
