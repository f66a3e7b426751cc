// What workflow code reports for metrics, through a Temporal sink: workflows cannot touch
// prom-client, so the workflow interceptor (workflows/interceptors.ts) tells the worker when a
// command or a monitor or collector cycle starts and ends, and the worker counts it
// (./worker-metrics.ts). Sinks are not called on replay, so nothing is counted twice. Types only.
import type { Sinks } from '@temporalio/workflow';

/** What ran: a command of a container, environment or host, or a monitor or collector cycle. */
export interface RunLabels {
  /** `container`, `environment`, `hypervisor`, or `monitor` / `collector` for a cycle. */
  readonly kind: string;
  /** The command (`create`, `migrate`, `failover`, `drain`, `start`, ...) or `cycle`. */
  readonly command: string;
  /** The container, environment or host it is about; '' for a cycle. */
  readonly target: string;
}

export interface RunEnded extends RunLabels {
  readonly outcome: 'completed' | 'failed' | 'cancelled';
  /** The vmflow error code of a failure. */
  readonly code?: string;
  /** From its start (its acceptance, for a queued command) to its end, workflow time. */
  readonly seconds: number;
  /** A failover's containers: how many were rebuilt elsewhere, failed, or stayed (policy none). */
  readonly containers?: { readonly restarted: number; readonly failed: number; readonly stayed: number };
}

export interface VmflowSinks extends Sinks {
  metrics: {
    started(run: RunLabels): void;
    ended(run: RunEnded): void;
  };
}
