// The monitor and collector Schedules, created when vmflow starts and updated when their
// settings change: idempotent, so every worker may call it.
import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from '../config';
import { TASK_QUEUE } from '../domain/names';

export const MONITOR_SCHEDULE = 'vmflow-monitor';
export const COLLECTOR_SCHEDULE = 'vmflow-collector';

type ScheduleSettings = Pick<Config, 'monitorIntervalSeconds' | 'downAfterFailures' | 'pollTimeoutMs' | 'collectorIntervalSeconds' | 'claimTtlSeconds' | 'orphanGraceSeconds'>;

/**
 * Hosts per monitor activity: each batch is two registry reads, one status request to the sim farm
 * (or one per host for other drivers) and one metadata write, so fewer, larger batches cost less.
 */
export const MONITOR_BATCH_SIZE = 200;

export function monitorOptions(c: ScheduleSettings) {
  return { downAfter: c.downAfterFailures, contactEverySeconds: Math.max(60, c.monitorIntervalSeconds * 4), pollTimeoutMs: c.pollTimeoutMs, batchSize: MONITOR_BATCH_SIZE };
}

export function collectorOptions(c: ScheduleSettings) {
  return { claimTtlSeconds: c.claimTtlSeconds, orphanGraceSeconds: c.orphanGraceSeconds };
}

async function upsert(client: Client, id: string, everySeconds: number, workflowType: string, args: unknown[], note: string): Promise<void> {
  const action = { type: 'startWorkflow' as const, workflowType, taskQueue: TASK_QUEUE, args, workflowId: `${id}-cycle`, staticSummary: note };
  const spec = { intervals: [{ every: everySeconds * 1000 }] };
  try {
    await client.schedule.create({ scheduleId: id, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' }, memo: { note } });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(id).update((previous) => ({ ...previous, spec, action }));
  }
}

/** Creates or updates the monitor and collector schedules from the configuration. */
export async function ensureSchedules(client: Client, config: ScheduleSettings): Promise<void> {
  await upsert(client, MONITOR_SCHEDULE, config.monitorIntervalSeconds, 'monitorCycle', [monitorOptions(config)], 'polls every host and makes the registry follow reality');
  await upsert(client, COLLECTOR_SCHEDULE, config.collectorIntervalSeconds, 'collectorCycle', [collectorOptions(config)], 'removes expired placeholders, illegal copies and old orphans');
}
