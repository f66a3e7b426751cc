// A `vmflow worker` process on a test stack, for tests that signal it (SIGTERM, a deploy) and
// watch it stop: the stack's own worker process is only ever killed.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { Stack } from '../support/stack';

const ROOT = path.resolve(__dirname, '..', '..');

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Exit code (or signal name) once it has exited. */
  readonly exited: Promise<number | string>;
  /** Sends a signal and waits for the exit. */
  stop(signal: NodeJS.Signals): Promise<number | string>;
}

export function spawnWorker(stack: Stack, env: Record<string, string> = {}): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), 'worker'], {
    cwd: ROOT,
    env: {
      ...process.env,
      VMFLOW_MONITOR_INTERVAL: '3600',
      VMFLOW_COLLECTOR_INTERVAL: '3600',
      VMFLOW_TEMPORAL_ADDRESS: stack.temporal.address,
      VMFLOW_REGISTRY_URL: stack.registryUrl,
      VMFLOW_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    exited,
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface ActivityRun {
  readonly type: string;
  readonly attempts: number[];
  readonly identities: string[];
  readonly outcome: 'completed' | 'failed' | 'timedOut' | 'cancelled' | 'open';
}

/** The activities of a workflow as its history records them: each attempt that started and how it ended. */
export async function activityRuns(handle: WorkflowHandle): Promise<ActivityRun[]> {
  const { events } = await handle.fetchHistory();
  const runs = new Map<string, { type: string; attempts: number[]; identities: string[]; outcome: ActivityRun['outcome'] }>();
  for (const e of events ?? []) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes) runs.set(id, { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '', attempts: [], identities: [], outcome: 'open' });
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const run = runs.get(String(started.scheduledEventId));
      run?.attempts.push(started.attempt ?? 1);
      run?.identities.push(started.identity ?? '');
    }
    const ends: Array<[unknown, ActivityRun['outcome']]> = [
      [e.activityTaskCompletedEventAttributes, 'completed'],
      [e.activityTaskFailedEventAttributes, 'failed'],
      [e.activityTaskTimedOutEventAttributes, 'timedOut'],
      [e.activityTaskCanceledEventAttributes, 'cancelled'],
    ];
    for (const [attrs, outcome] of ends) {
      if (attrs) {
        const run = runs.get(String((attrs as { scheduledEventId?: unknown }).scheduledEventId));
        if (run) run.outcome = outcome;
      }
    }
  }
  return [...runs.values()];
}
