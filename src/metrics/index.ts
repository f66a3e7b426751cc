// Prometheus metrics of the API process: requests by route, status and token name, commands it
// accepted by token, and, read from the registry at scrape time, node counts and every host's
// capacity, use and state. Commands are counted where they run (./worker-metrics.ts); an API
// that shares its process with a worker (`vmflow dev`) serves those too. The worker's Temporal
// SDK metrics come from the SDK's exporter (./worker.ts).
import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import type { Registry } from '../registry/types';
import { CONTAINER_STATES, HYPERVISOR_STATES, NODE_TYPES } from '../domain/types';
import { workerMetrics, type WorkerMetrics } from './worker-metrics';

export { WorkerMetrics, workerMetrics } from './worker-metrics';
export type { RunEnded, RunLabels, VmflowSinks } from './sinks';

export interface MetricsOptions {
  /** Read at scrape time for node counts and host gauges. */
  readonly registry?: Registry;
  /** Served with the API's metrics when a worker of this process reports into them. Default: this process's. */
  readonly worker?: WorkerMetrics;
}

const RESOURCES = ['cpus', 'memoryMiB', 'diskGiB'] as const;

export class ApiMetrics {
  readonly registry = new PromRegistry();
  readonly requests: Counter<'method' | 'route' | 'status' | 'token'>;
  readonly duration: Histogram<'method' | 'route' | 'status'>;
  readonly submitted: Counter<'command' | 'kind' | 'token'>;
  private readonly worker: WorkerMetrics;
  private readonly hosts?: {
    read(): ReturnType<Registry['hostSnapshot']>;
    capacity: Gauge<'host' | 'resource'>;
    used: Gauge<'host' | 'resource'>;
    state: Gauge<'host' | 'state'>;
  };

  constructor(options: MetricsOptions = {}) {
    this.worker = options.worker ?? workerMetrics;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'vmflow_api_' });
    this.requests = new Counter({
      name: 'vmflow_api_requests_total',
      help: 'HTTP requests answered, by route template, status and the name of the token that sent them (anonymous without one)',
      labelNames: ['method', 'route', 'status', 'token'],
      registers,
    });
    this.duration = new Histogram({
      name: 'vmflow_api_request_duration_seconds',
      help: 'HTTP request durations, by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.submitted = new Counter({ name: 'vmflow_api_commands_submitted_total', help: 'Commands this API accepted (202), by type and token name', labelNames: ['command', 'kind', 'token'], registers });
    const nodes = options.registry;
    if (!nodes) return;
    new Gauge({
      name: 'vmflow_registry_nodes',
      help: 'Nodes in the registry, by type',
      labelNames: ['type'],
      registers,
      async collect() {
        const counts = await Promise.all(NODE_TYPES.map((type) => nodes.count({ type }).catch(() => undefined)));
        NODE_TYPES.forEach((type, i) => {
          if (counts[i] !== undefined) this.set({ type }, counts[i]!);
        });
      },
    });
    new Gauge({
      name: 'vmflow_containers',
      help: 'Containers in the registry by state; missing and unknown ones wait for the monitor or a reconcile',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await Promise.all(CONTAINER_STATES.map((state) => nodes.count({ type: 'container', state }).catch(() => undefined)));
        CONTAINER_STATES.forEach((state, i) => {
          if (counts[i] !== undefined) this.set({ state }, counts[i]!);
        });
      },
    });
    this.hosts = {
      read: () => nodes.hostSnapshot(),
      capacity: new Gauge({ name: 'vmflow_host_capacity', help: "A host's capacity times its overcommit ratio, by resource (cpus, memoryMiB, diskGiB)", labelNames: ['host', 'resource'], registers }),
      used: new Gauge({ name: 'vmflow_host_used', help: 'What is claimed on a host — its containers and the placeholders of commands in flight — by resource', labelNames: ['host', 'resource'], registers }),
      state: new Gauge({ name: 'vmflow_host_state', help: "1 for a host's state (up, down, draining), 0 for the others", labelNames: ['host', 'state'], registers }),
    };
  }

  /** Sets the host gauges from one read of every host, once per scrape (three collects would read three times, and disagree). */
  private async refreshHosts(): Promise<void> {
    if (!this.hosts) return;
    const { read, capacity, used, state } = this.hosts;
    const snapshot = await read().catch(() => undefined);
    if (!snapshot) return;
    capacity.reset();
    used.reset();
    state.reset();
    for (const h of snapshot) {
      for (const r of RESOURCES) {
        capacity.set({ host: h.name, resource: r }, h.allowance[r]);
        used.set({ host: h.name, resource: r }, h.used[r]);
      }
      for (const s of HYPERVISOR_STATES) state.set({ host: h.name, state: s }, h.state === s ? 1 : 0);
    }
  }

  /** Counts a command this API accepted. */
  commandSubmitted(command: string, kind: string, token: string): void {
    this.submitted.inc({ command, kind, token });
  }

  observeRequest(method: string, route: string, status: number, seconds: number, token = 'anonymous'): void {
    this.requests.inc({ method, route, status: String(status), token });
    this.duration.observe({ method, route, status: String(status) }, seconds);
  }

  async text(): Promise<{ contentType: string; body: string }> {
    await this.refreshHosts();
    const body = await this.registry.metrics();
    return { contentType: this.registry.contentType, body: this.worker.active ? `${body}\n${await this.worker.text()}` : body };
  }
}
