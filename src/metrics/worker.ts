// The worker process's Temporal runtime and metrics: on VMFLOW_WORKER_METRICS_PORT one Prometheus
// endpoint serves vmflow's worker metrics (commands, cycles, failovers: ./worker-metrics.ts)
// followed by the Temporal SDK's own (workflow and activity task latencies, schedule-to-start,
// slots, sticky cache, ...), which its exporter serves on a loopback port of its own; and the
// SDK's log lines go through pino with the command id beside the workflow id.
import { createServer, type Server } from 'node:http';
import getPort from 'get-port';
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import type { Config } from '../config';
import { temporalLogger, type Logger } from '../log';
import { workerMetrics } from './worker-metrics';

const SDK_LEVEL: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' };

/**
 * Installs the process-wide Temporal runtime, with the SDK's exporter on `sdkBindAddress` when
 * given. Must run before the first NativeConnection.
 */
export function installWorkerRuntime(log?: Logger, sdkBindAddress?: string): void {
  Runtime.install({
    ...(log ? { logger: new DefaultLogger(SDK_LEVEL[log.level] ?? 'INFO', (entry) => temporalLogger(log).log(entry.level, entry.message, entry.meta as Record<string, unknown>)) } : {}),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
      ...(sdkBindAddress ? { metrics: { prometheus: { bindAddress: sdkBindAddress } } } : {}),
    },
  });
}

export interface WorkerMetricsEndpoint {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Installs the runtime and, when `workerMetricsPort` is set, serves the worker's metrics there.
 * Returns the endpoint, or undefined when the port is 0 (off). Must run before the first NativeConnection.
 */
export async function serveWorkerMetrics(config: Pick<Config, 'workerMetricsPort' | 'metricsHost'>, log?: Logger): Promise<WorkerMetricsEndpoint | undefined> {
  if (config.workerMetricsPort <= 0) {
    installWorkerRuntime(log);
    return undefined;
  }
  const sdk = `127.0.0.1:${await getPort({ host: '127.0.0.1' })}`;
  installWorkerRuntime(log, sdk);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    void (async () => {
      const own = await workerMetrics.text();
      const theirs = await fetch(`http://${sdk}/metrics`).then((r) => r.text(), () => '');
      res.writeHead(200, { 'content-type': workerMetrics.registry.contentType }).end(`${own}\n${theirs}`);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.workerMetricsPort, config.metricsHost, () => resolve()));
  return {
    url: `http://${config.metricsHost}:${config.workerMetricsPort}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
