// Metrics counted where commands run: in the worker, from what its workflows report through the
// `metrics` sink (./sinks.ts) — so commands sent by the CLI, the API, the TypeScript client or the
// monitor all count, once. One set per process; the worker process serves it with the Temporal
// SDK's own metrics, and an API in the same process (`vmflow dev`) serves it on its /metrics.
import type { InjectedSinks } from '@temporalio/worker';
import { Counter, Histogram, Registry as PromRegistry } from 'prom-client';
import type { RunEnded, RunLabels, VmflowSinks } from './sinks';

const DURATIONS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export class WorkerMetrics {
  readonly registry = new PromRegistry();
  /** True once a worker of this process reports into it. */
  active = false;
  readonly started: Counter<'command' | 'kind'>;
  readonly completed: Counter<'command' | 'kind'>;
  readonly failed: Counter<'command' | 'kind' | 'code'>;
  readonly cancelled: Counter<'command' | 'kind'>;
  readonly duration: Histogram<'command' | 'kind' | 'outcome'>;
  readonly cycles: Counter<'cycle' | 'outcome'>;
  readonly cycleDuration: Histogram<'cycle' | 'outcome'>;
  readonly failovers: Counter<'host' | 'outcome'>;
  readonly failoverDuration: Histogram<'host' | 'outcome'>;
  readonly failoverContainers: Counter<'host' | 'outcome'>;

  constructor() {
    const registers = [this.registry];
    this.started = new Counter({ name: 'vmflow_commands_started_total', help: 'Commands that started running on a worker, by type (container, environment and host commands)', labelNames: ['command', 'kind'], registers });
    this.completed = new Counter({ name: 'vmflow_commands_completed_total', help: 'Commands that completed, by type', labelNames: ['command', 'kind'], registers });
    this.failed = new Counter({ name: 'vmflow_commands_failed_total', help: 'Commands that failed, by type and error code', labelNames: ['command', 'kind', 'code'], registers });
    this.cancelled = new Counter({ name: 'vmflow_commands_cancelled_total', help: 'Commands that were cancelled (and undone), by type', labelNames: ['command', 'kind'], registers });
    this.duration = new Histogram({ name: 'vmflow_command_duration_seconds', help: 'From acceptance to end, by type and outcome', labelNames: ['command', 'kind', 'outcome'], buckets: DURATIONS, registers });
    this.cycles = new Counter({ name: 'vmflow_cycles_total', help: 'Monitor and collector cycles, by outcome', labelNames: ['cycle', 'outcome'], registers });
    this.cycleDuration = new Histogram({ name: 'vmflow_cycle_duration_seconds', help: 'Monitor and collector cycle durations, by outcome', labelNames: ['cycle', 'outcome'], buckets: DURATIONS, registers });
    this.failovers = new Counter({ name: 'vmflow_failovers_total', help: 'Host failovers, by host and outcome', labelNames: ['host', 'outcome'], registers });
    this.failoverDuration = new Histogram({ name: 'vmflow_failover_duration_seconds', help: 'Host failover durations, from the host declared down to every container handled', labelNames: ['host', 'outcome'], buckets: DURATIONS, registers });
    this.failoverContainers = new Counter({
      name: 'vmflow_failover_containers_total',
      help: "Containers of failed-over hosts: restarted elsewhere, failed, or stayed (their policy is none)",
      labelNames: ['host', 'outcome'],
      registers,
    });
  }

  runStarted(run: RunLabels): void {
    if (isCycle(run)) return;
    this.started.inc({ command: run.command, kind: run.kind });
  }

  runEnded(run: RunEnded): void {
    if (isCycle(run)) {
      this.cycles.inc({ cycle: run.kind, outcome: run.outcome });
      this.cycleDuration.observe({ cycle: run.kind, outcome: run.outcome }, run.seconds);
      return;
    }
    const labels = { command: run.command, kind: run.kind };
    if (run.outcome === 'completed') this.completed.inc(labels);
    else if (run.outcome === 'cancelled') this.cancelled.inc(labels);
    else this.failed.inc({ ...labels, code: run.code ?? 'INTERNAL' });
    this.duration.observe({ ...labels, outcome: run.outcome }, run.seconds);
    if (run.kind === 'hypervisor' && run.command === 'failover') {
      this.failovers.inc({ host: run.target, outcome: run.outcome });
      this.failoverDuration.observe({ host: run.target, outcome: run.outcome }, run.seconds);
      for (const [outcome, n] of Object.entries(run.containers ?? {})) if (n) this.failoverContainers.inc({ host: run.target, outcome }, n);
    }
  }

  /** The `metrics` sink for Worker.create({ sinks }). */
  sinks(): InjectedSinks<VmflowSinks> {
    this.active = true;
    return {
      metrics: {
        started: { fn: (_info, run) => this.runStarted(run), callDuringReplay: false },
        ended: { fn: (_info, run) => this.runEnded(run), callDuringReplay: false },
      },
    };
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

function isCycle(run: RunLabels): boolean {
  return run.kind === 'monitor' || run.kind === 'collector';
}

/** This process's worker metrics. */
export const workerMetrics = new WorkerMetrics();
