// The worker process's Temporal runtime: the SDK's Prometheus exporter (workflow and activity
// task latencies, schedule-to-start, slots, sticky cache, ...) on a configurable port, and the
// SDK's log lines through pino with the command id beside the workflow id.
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import type { Config } from '../config';
import { temporalLogger, type Logger } from '../log';

/**
 * Installs the process-wide Temporal runtime. Must run before the first NativeConnection.
 * Returns the exporter's URL, or undefined when `workerMetricsPort` is 0 (off).
 */
const SDK_LEVEL: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' };

export function installWorkerRuntime(config: Pick<Config, 'workerMetricsPort' | 'metricsHost'>, log?: Logger): string | undefined {
  const bindAddress = config.workerMetricsPort > 0 ? `${config.metricsHost}:${config.workerMetricsPort}` : undefined;
  Runtime.install({
    ...(log ? { logger: new DefaultLogger(SDK_LEVEL[log.level] ?? 'INFO', (entry) => temporalLogger(log).log(entry.level, entry.message, entry.meta as Record<string, unknown>)) } : {}),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
      ...(bindAddress ? { metrics: { prometheus: { bindAddress } } } : {}),
    },
  });
  return bindAddress ? `http://${bindAddress}/metrics` : undefined;
}
