// Which activities of a workflow ran more than once, read from its history: a local activity's
// marker and a task's start record the attempt that succeeded; a claim that ran again after its
// first run had made it (its result was lost with a workflow task) finds that claim and says
// `attempts: 0`. Workflow tasks that timed out or failed are counted too: with local activities
// in flight, each is one more way their results were lost and they ran again.
import type { temporal } from '@temporalio/proto';

export interface Reruns {
  /** Activity runs beyond the first, by activity type. */
  readonly byActivity: Record<string, number>;
  /** Activities (not runs) that ran more than once. */
  readonly activities: number;
  /** Workflow tasks that timed out or failed. */
  readonly lostWorkflowTasks: number;
}

export function emptyReruns(): Reruns {
  return { byActivity: {}, activities: 0, lostWorkflowTasks: 0 };
}

function json(payload: temporal.api.common.v1.IPayload | undefined): unknown {
  if (!payload?.data || Buffer.from(payload.metadata?.encoding ?? []).toString() !== 'json/plain') return undefined;
  return JSON.parse(Buffer.from(payload.data).toString('utf8'));
}

/** Adds what one history shows to `into`. */
export function addReruns(into: Reruns, history: temporal.api.history.v1.IHistory): Reruns {
  const byActivity = { ...into.byActivity };
  let { activities, lostWorkflowTasks } = into;
  const scheduled = new Map<string, string>();
  const add = (type: string, extra: number) => {
    if (extra <= 0) return;
    byActivity[type] = (byActivity[type] ?? 0) + extra;
    activities++;
  };
  for (const event of history.events ?? []) {
    if (event.workflowTaskTimedOutEventAttributes || event.workflowTaskFailedEventAttributes) lostWorkflowTasks++;
    const s = event.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(event.eventId), s.activityType?.name ?? '?');
    const started = event.activityTaskStartedEventAttributes;
    if (started) add(scheduled.get(String(started.scheduledEventId)) ?? '?', (started.attempt ?? 1) - 1);
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      const data = json(marker.details?.data?.payloads?.[0]) as { activity_type?: string; attempt?: number } | undefined;
      const result = json(marker.details?.result?.payloads?.[0]) as { placeholderId?: unknown; attempts?: unknown } | undefined;
      const type = data?.activity_type ?? '?';
      const retried = (data?.attempt ?? 1) - 1;
      const foundAgain = retried === 0 && result && typeof result === 'object' && 'placeholderId' in result && result.attempts === 0 ? 1 : 0;
      add(type, retried + foundAgain);
    }
  }
  return { byActivity, activities, lostWorkflowTasks };
}

export function describeReruns(r: Reruns): string {
  const types = Object.entries(r.byActivity).map(([t, n]) => `${t} ${n}`);
  return `${r.activities} ran more than once${types.length ? ` (extra runs: ${types.join(', ')})` : ''}; ${r.lostWorkflowTasks} workflow tasks timed out or failed`;
}
