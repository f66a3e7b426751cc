// Prometheus metrics of the API process: requests by route and status, commands it submitted and
// the outcomes it saw, and registry node counts read at scrape time. The worker's own metrics
// come from the Temporal SDK's exporter (./worker.ts).
import { setMaxListeners } from 'node:events';
import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import type { Registry } from '../registry/types';
import { CONTAINER_STATES, NODE_TYPES } from '../domain/types';

/** What the follower needs of a submitted command. */
export interface FollowedCommand {
  readonly command: string;
  readonly kind: 'container' | 'environment';
  /** Waits for the outcome; `signal` aborts the wait when the metrics close. */
  result(signal: AbortSignal): Promise<unknown>;
}

export interface MetricsOptions {
  /** Read at scrape time for `vmflow_registry_nodes`. */
  readonly registry?: Registry;
  /** Most command outcomes awaited at once (each is one long poll on Temporal). Default 32. */
  readonly followConcurrency?: number;
  /** Commands waiting to be followed beyond this are counted as unfollowed. Default 10,000. */
  readonly followQueueLimit?: number;
}

export class ApiMetrics {
  readonly registry = new PromRegistry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route' | 'status'>;
  readonly commandsStarted: Counter<'command' | 'kind'>;
  readonly commandsCompleted: Counter<'command' | 'kind'>;
  readonly commandsFailed: Counter<'command' | 'kind' | 'code'>;
  readonly commandsCancelled: Counter<'command' | 'kind'>;
  readonly commandsUnfollowed: Counter<'command' | 'kind'>;
  private readonly waiting: FollowedCommand[] = [];
  private following = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly followConcurrency: number;
  private readonly followQueueLimit: number;

  constructor(options: MetricsOptions = {}) {
    this.followConcurrency = options.followConcurrency ?? 32;
    this.followQueueLimit = options.followQueueLimit ?? 10_000;
    // Every followed command listens on this one signal.
    setMaxListeners(0, this.abort.signal);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'vmflow_api_' });
    this.requests = new Counter({ name: 'vmflow_api_requests_total', help: 'HTTP requests answered, by route template and status', labelNames: ['method', 'route', 'status'], registers });
    this.duration = new Histogram({
      name: 'vmflow_api_request_duration_seconds',
      help: 'HTTP request durations, by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.commandsStarted = new Counter({ name: 'vmflow_commands_started_total', help: 'Commands this process submitted and Temporal accepted, by type', labelNames: ['command', 'kind'], registers });
    this.commandsCompleted = new Counter({ name: 'vmflow_commands_completed_total', help: 'Submitted commands seen to complete, by type', labelNames: ['command', 'kind'], registers });
    this.commandsFailed = new Counter({ name: 'vmflow_commands_failed_total', help: 'Submitted commands seen to fail, by type and error code', labelNames: ['command', 'kind', 'code'], registers });
    this.commandsCancelled = new Counter({ name: 'vmflow_commands_cancelled_total', help: 'Submitted commands seen to be cancelled, by type', labelNames: ['command', 'kind'], registers });
    this.commandsUnfollowed = new Counter({
      name: 'vmflow_commands_unfollowed_total',
      help: 'Submitted commands whose outcome is not followed because too many were waiting',
      labelNames: ['command', 'kind'],
      registers,
    });
    const self = this;
    new Gauge({
      name: 'vmflow_commands_in_flight',
      help: 'Submitted commands whose outcome has not been seen yet (followed or queued to be)',
      registers,
      collect() {
        this.set(self.following + self.waiting.length);
      },
    });
    const nodes = options.registry;
    if (nodes) {
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
    }
  }

  /** Counts an accepted command and, in the background, its outcome. */
  commandStarted(command: FollowedCommand): void {
    const labels = { command: command.command, kind: command.kind };
    this.commandsStarted.inc(labels);
    if (this.closed) return;
    if (this.waiting.length >= this.followQueueLimit) {
      this.commandsUnfollowed.inc(labels);
      return;
    }
    this.waiting.push(command);
    this.pump();
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.duration.observe(labels, seconds);
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Stops following outcomes; awaited results that arrive later are ignored. */
  close(): void {
    this.closed = true;
    this.waiting.length = 0;
    this.abort.abort();
  }

  private pump(): void {
    while (!this.closed && this.following < this.followConcurrency && this.waiting.length) {
      const c = this.waiting.shift()!;
      const labels = { command: c.command, kind: c.kind };
      this.following++;
      c.result(this.abort.signal)
        .then(
          () => {
            if (!this.closed) this.commandsCompleted.inc(labels);
          },
          (err: { code?: string }) => {
            if (this.closed) return;
            if (err?.code === 'CANCELLED') this.commandsCancelled.inc(labels);
            else this.commandsFailed.inc({ ...labels, code: err?.code ?? 'INTERNAL' });
          },
        )
        .finally(() => {
          this.following--;
          this.pump();
        });
    }
  }
}
