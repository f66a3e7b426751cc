// The workflow bundle's interceptor module (src/worker/bundle.ts): a vmflow error thrown by
// workflow code, by an update handler or by an update validator leaves as a typed failure; and
// every command and monitor or collector cycle reports its start and end to the worker's
// metrics through the `metrics` sink (src/metrics/sinks.ts), which is not called on replay.
import { isCancellation, proxySinks, workflowInfo, type WorkflowInboundCallsInterceptor, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { fromFailure, toFailure } from '../src/domain/errors';
import type { RunEnded, RunLabels, VmflowSinks } from '../src/metrics/sinks';

const typedFailures: WorkflowInboundCallsInterceptor = {
  async execute(input, next) {
    try {
      return await next(input);
    } catch (err) {
      throw toFailure(err);
    }
  },
  async handleUpdate(input, next) {
    try {
      return await next(input);
    } catch (err) {
      throw toFailure(err);
    }
  },
  validateUpdate(input, next) {
    try {
      next(input);
    } catch (err) {
      throw toFailure(err);
    }
  },
};

const COMMAND_ID = /^(container|environment|hypervisor)\/([^/]+)\/([^/]+)\/[^/]+$/;
const CYCLES: Record<string, string> = { monitorCycle: 'monitor', collectorCycle: 'collector' };

/** What the running workflow is, for metrics; undefined for an entity or anything else. */
function runOf(): RunLabels | undefined {
  const { workflowId, workflowType } = workflowInfo();
  const cycle = CYCLES[workflowType];
  if (cycle) return { kind: cycle, command: 'cycle', target: '' };
  const m = COMMAND_ID.exec(workflowId);
  return m ? { kind: m[1]!, command: m[3]!, target: m[2]! } : undefined;
}

/** A failover's report: how many containers it rebuilt, could not, or left by policy. */
function containersOf(result: unknown): RunEnded['containers'] {
  const r = result as { restarted?: unknown[]; failed?: unknown[]; stayed?: unknown[] } | undefined;
  if (!r || !Array.isArray(r.restarted)) return undefined;
  return { restarted: r.restarted.length, failed: Array.isArray(r.failed) ? r.failed.length : 0, stayed: Array.isArray(r.stayed) ? r.stayed.length : 0 };
}

const { metrics } = proxySinks<VmflowSinks>();

const runMetrics: WorkflowInboundCallsInterceptor = {
  async execute(input, next) {
    const run = runOf();
    if (!run) return next(input);
    const seconds = () => Math.max(0, (Date.now() - workflowInfo().startTime.getTime()) / 1000);
    metrics.started(run);
    try {
      const result = await next(input);
      const containers = run.kind === 'hypervisor' && run.command === 'failover' ? containersOf(result) : undefined;
      metrics.ended({ ...run, outcome: 'completed', seconds: seconds(), ...(containers ? { containers } : {}) });
      return result;
    } catch (err) {
      const cancelled = isCancellation(err) || fromFailure(err)?.code === 'CANCELLED';
      metrics.ended({ ...run, outcome: cancelled ? 'cancelled' : 'failed', ...(cancelled ? {} : { code: fromFailure(err)?.code ?? 'INTERNAL' }), seconds: seconds() });
      throw err;
    }
  },
};

// The metrics interceptor is outside: it sees the failure as the workflow leaves it, typed.
export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [runMetrics, typedFailures] });
