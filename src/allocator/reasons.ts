// Named reasons a host is rejected. Explanations and tests use these spellings; keep them stable.

export const REASON = {
  notHinted: 'not the hinted host',
  down: 'down',
  draining: 'draining',
  wrongDriver: 'wrong driver',
  excluded: 'excluded',
  fullOnMemory: 'full on memory',
  fullOnCpu: 'full on cpu',
  fullOnDisk: 'full on disk',
  antiAffinity: 'excluded by anti-affinity',
} as const;

/** `missing label zone=a`: the host lacks the label or carries another value. */
export function missingLabel(key: string, value: string): string {
  return `missing label ${key}=${value}`;
}

/** A host that is not `up` is `draining` when it says so and `down` otherwise. */
export function notUp(state: string): string {
  return state === 'draining' ? REASON.draining : REASON.down;
}

const PIPELINE_ORDER: readonly string[] = [
  REASON.notHinted,
  REASON.down,
  REASON.draining,
  REASON.wrongDriver,
  'missing label',
  REASON.excluded,
  REASON.fullOnMemory,
  REASON.fullOnCpu,
  REASON.fullOnDisk,
  REASON.antiAffinity,
];

/** Position of a reason in the pipeline, to order explanations with equal counts. */
export function reasonOrder(reason: string): number {
  const i = PIPELINE_ORDER.findIndex((r) => reason === r || (r === 'missing label' && reason.startsWith('missing label ')));
  return i < 0 ? PIPELINE_ORDER.length : i;
}
