// Structured JSON logs (pino). Every line that concerns a command carries its `commandId` and
// `workflowId`, so one command is followed across the API, the client and the worker with one filter.
import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  readonly level?: string;
  /** Added to every line: `vmflow-api`, `vmflow-worker`, ... */
  readonly name?: string;
  /** Defaults to stdout; tests pass a stream to read the lines back. */
  readonly destination?: pino.DestinationStream;
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function createLogger(options: LogOptions = {}): Logger {
  const level = (LEVELS.has(options.level ?? '') ? options.level : 'info') as LevelWithSilent;
  return pino(
    {
      level,
      name: options.name,
      base: { pid: process.pid },
      // ISO 8601 UTC, as everywhere else in vmflow.
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

/** What names a command: its id and the id of the workflow that runs it. */
export interface CommandRef {
  readonly commandId: string;
  readonly workflowId: string;
  readonly command?: string;
  readonly target?: string;
}

/** A child logger for one command: its lines carry commandId and workflowId. */
export function commandLogger<L extends { child(bindings: Record<string, unknown>): unknown }>(log: L, ref: CommandRef): ReturnType<L['child']> {
  return log.child({ commandId: ref.commandId, workflowId: ref.workflowId, ...(ref.command ? { command: ref.command } : {}), ...(ref.target ? { target: ref.target } : {}) }) as ReturnType<L['child']>;
}

const COMMAND_WORKFLOW_ID = /^(container|environment|hypervisor)\/([^/]+)\/([^/]+)\/([^/]+)$/;

/**
 * The command a workflow id names (`container/web1/migrate/<commandId>`), or undefined for an
 * entity or any other workflow.
 */
export function commandOfWorkflowId(workflowId: string): { kind: string; target: string; command: string; commandId: string } | undefined {
  const m = COMMAND_WORKFLOW_ID.exec(workflowId);
  return m ? { kind: m[1]!, target: m[2]!, command: m[3]!, commandId: m[4]! } : undefined;
}

type TemporalLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/**
 * Adapts pino to the Temporal SDK's logger interface, for `Runtime.install({ logger })`: workflow
 * and activity lines get `commandId` (parsed from the workflow id) next to `workflowId`.
 */
export function temporalLogger(log: Logger) {
  const write = (level: TemporalLevel, message: string, meta?: Record<string, unknown>) => {
    const fields: Record<string, unknown> = { ...(meta ?? {}) };
    const workflowId = typeof fields.workflowId === 'string' ? fields.workflowId : undefined;
    const cmd = workflowId ? commandOfWorkflowId(workflowId) : undefined;
    if (cmd) fields.commandId = cmd.commandId;
    const at = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' }[level] as 'info';
    log[at](fields, message);
  };
  return {
    log: write,
    trace: (m: string, meta?: Record<string, unknown>) => write('TRACE', m, meta),
    debug: (m: string, meta?: Record<string, unknown>) => write('DEBUG', m, meta),
    info: (m: string, meta?: Record<string, unknown>) => write('INFO', m, meta),
    warn: (m: string, meta?: Record<string, unknown>) => write('WARN', m, meta),
    error: (m: string, meta?: Record<string, unknown>) => write('ERROR', m, meta),
  };
}
