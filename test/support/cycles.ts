// One monitor or collector cycle on demand, as the schedules would run it, for tests that step
// the monitor themselves.
import { randomUUID } from 'node:crypto';
import { TASK_QUEUE } from '../../src/domain/names';
import type { CollectorOptions, CollectorReport, MonitorOptions, MonitorReport } from '../../workflows/monitor';
import type { Stack } from './stack';

export function monitorCycle(stack: Stack, options: MonitorOptions): Promise<MonitorReport> {
  return stack.client.temporal.workflow.execute('monitorCycle', { taskQueue: TASK_QUEUE, workflowId: `test-monitor-${randomUUID()}`, args: [options] });
}

export function collectorCycle(stack: Stack, options: CollectorOptions): Promise<CollectorReport> {
  return stack.client.temporal.workflow.execute('collectorCycle', { taskQueue: TASK_QUEUE, workflowId: `test-collector-${randomUUID()}`, args: [options] });
}
