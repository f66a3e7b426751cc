// The monitor and the collector on their schedule: one long-lived workflow each, started when
// vmflow starts and told when their settings change. Idempotent, so every worker may call it.
import { type Client, ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config';
import { cycleSettingsSignal, pauseCyclesUpdate } from '../domain/messages';
import { TASK_QUEUE } from '../domain/names';

/** Workflow ids of the two loops (older versions used them as Schedule ids). */
export const MONITOR_WORKFLOW_ID = 'vmflow-monitor';
export const COLLECTOR_WORKFLOW_ID = 'vmflow-collector';

type ScheduleSettings = Pick<Config, 'monitorIntervalSeconds' | 'downAfterFailures' | 'pollTimeoutMs' | 'collectorIntervalSeconds' | 'claimTtlSeconds' | 'orphanGraceSeconds'>;

/**
 * Hosts per monitor (and collector) activity: each batch is two registry reads, one status request to the sim farm
 * (or one per host for other drivers) and one metadata write, so fewer, larger batches cost less.
 */
export const MONITOR_BATCH_SIZE = 200;

export function monitorOptions(c: ScheduleSettings) {
  return { downAfter: c.downAfterFailures, contactEverySeconds: Math.max(60, c.monitorIntervalSeconds * 4), pollTimeoutMs: c.pollTimeoutMs, batchSize: MONITOR_BATCH_SIZE };
}

export function collectorOptions(c: ScheduleSettings) {
  return { claimTtlSeconds: c.claimTtlSeconds, orphanGraceSeconds: c.orphanGraceSeconds, batchSize: MONITOR_BATCH_SIZE, pollTimeoutMs: c.pollTimeoutMs };
}

const LOOPS = [
  { id: MONITOR_WORKFLOW_ID, type: 'monitorLoop', summary: 'polls every host and makes the registry follow reality' },
  { id: COLLECTOR_WORKFLOW_ID, type: 'collectorLoop', summary: 'removes expired placeholders, illegal copies and old orphans' },
] as const;

async function ensureLoop(client: Client, loop: (typeof LOOPS)[number], everySeconds: number, options: object): Promise<void> {
  // Versions before 0.2 ran each cycle from a Schedule of the same id: it goes, the loop replaces it.
  await client.schedule
    .getHandle(loop.id)
    .delete()
    .catch((err) => {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    });
  // Started with these settings, or told them when it runs already (a worker started with a new
  // configuration). A signal is recorded at once, whether or not a worker is polling.
  await client.workflow.signalWithStart(loop.type, {
    workflowId: loop.id,
    taskQueue: TASK_QUEUE,
    args: [{ everySeconds, options }],
    signal: cycleSettingsSignal,
    signalArgs: [{ everySeconds, options }],
    staticSummary: loop.summary,
  });
}

/** Starts the monitor and collector loops, or gives them today's settings. */
export async function ensureSchedules(client: Client, config: ScheduleSettings): Promise<void> {
  await ensureLoop(client, LOOPS[0], config.monitorIntervalSeconds, monitorOptions(config));
  await ensureLoop(client, LOOPS[1], config.collectorIntervalSeconds, collectorOptions(config));
}

/** Holds (or resumes) both loops; resolves once no cycle runs. For tests and maintenance that step cycles by hand. */
export async function pauseCycles(client: Client, paused = true): Promise<void> {
  for (const loop of LOOPS) {
    await client.workflow
      .getHandle(loop.id)
      .executeUpdate(pauseCyclesUpdate, { args: [{ paused }] })
      .catch((err) => {
        // Not started (a stack without the loops): nothing runs.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      });
  }
}
