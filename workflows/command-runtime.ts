// The command runtime: what every container and environment command shares — waiting for its
// turn, progress reporting, the compensation stack (saga) and activity proxies per host.
import {
  ActivityCancellationType,
  ActivityFailure,
  TimeoutFailure,
  ApplicationFailure,
  CancellationScope,
  TemporalFailure,
  condition,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RegistryActivities } from '../activities/registry';
import type { HostActivities } from '../activities/hosts';
import type { EnvironmentActivities } from '../activities/environments';
import type { HostRef } from '../src/drivers/driver';
import type { CommandProgress, CommandRequest, ContainerCommand } from '../src/domain/commands';
import { MESSAGE_DESCRIPTIONS, progressQuery, turnSignal } from '../src/domain/messages';
import { SEARCH_ATTRIBUTE_KEYS, TASK_QUEUE } from '../src/domain/names';
import { HostUnreachableError, UndoIncompleteError, VmMissingError, VmflowError, fromFailure } from '../src/domain/errors';
import { TimeoutType } from '@temporalio/common';

/**
 * Registry calls are short database transactions: they run as local activities, in the worker
 * that runs the workflow task, which saves two server round trips each. They stay idempotent
 * and their undos are pushed before they run, so a retry or a cancel changes nothing twice.
 */
export const registry = proxyLocalActivities<RegistryActivities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '5 seconds', backoffCoefficient: 2 },
});

const hostActivityOptions = {
  startToCloseTimeout: '30 minutes',
  // Compensations must not start while a cancelled driver call is still rolling back.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', backoffCoefficient: 2, maximumAttempts: 20 },
} as const;

/**
 * Runs a container command through its container's entity and waits for it: how host-wide
 * commands (failover, drain) act on each container. A cancel waits until the command is undone.
 */
export const containerCommands = proxyActivities<Pick<EnvironmentActivities, 'runContainerCommand'>>({
  startToCloseTimeout: '2 hours',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

/** Driver activities on the central workers (for calls that reach several hosts). */
export const central = proxyActivities<HostActivities>({ ...hostActivityOptions, taskQueue: TASK_QUEUE });

/** Driver activities for a host: on its agent's task queue when it has one, else on the central workers. */
export function hostActivities(host: HostRef): HostActivities {
  const queue = host.definition.agentQueue;
  if (!queue) return central;
  const viaAgent = proxyActivities<HostActivities>({
    ...hostActivityOptions,
    taskQueue: queue,
    // An agent that is gone is noticed here rather than by waiting forever.
    scheduleToStartTimeout: AGENT_PICKUP_TIMEOUT,
  });
  // A call no agent picked up says so, as a typed error naming the host.
  return new Proxy(viaAgent, {
    get: (target, name) => async (...args: unknown[]) => {
      try {
        return await (target[name as keyof HostActivities] as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (err) {
        if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START) {
          throw new HostUnreachableError(host.name, `no agent polled ${queue} within ${AGENT_PICKUP_TIMEOUT}`);
        }
        throw err;
      }
    },
  });
}

const AGENT_PICKUP_TIMEOUT = '2 minutes';

export const CLAIM_TTL_SECONDS = 900;

/** How long an undo keeps retrying before the container is left `unknown` for the monitor to settle. */
export const UNDO_LIMIT_SECONDS = 6 * 3600;
const UNDO_FIRST_RETRY_MS = 1000;
const UNDO_MAX_RETRY_MS = 60_000;

type Compensation = {
  readonly what: string;
  readonly run: () => Promise<void>;
  /** Makes the registry forget the container: skipped once an undo has given up, so it stays tracked. */
  readonly forgets?: boolean;
};

export interface StepOptions {
  readonly forgets?: boolean;
}

/** What went wrong, in the words of the innermost application failure (the activity's own message). */
export function messageOf(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  for (let e: any = err, depth = 0; e && depth < 8; e = e.cause, depth++) {
    if (e instanceof ApplicationFailure) message = e.message;
  }
  return message;
}

/** One running command: its progress, its compensations, and its outcome. */
export class CommandRun {
  private phase: CommandProgress['phase'] = 'queued';
  private current = 'waiting for its turn';
  private readonly done: string[] = [];
  private readonly compensations: Compensation[] = [];
  private granted = false;
  private error?: string;
  private gaveUp?: { readonly undo: string; readonly error: string };
  host?: string;
  target?: string;
  /** The container the command is about, once known: it is flagged `unknown` if an undo gives up. */
  containerId?: string;

  /** `request.container` or `request.environment` names what the command is about. */
  constructor(readonly request: CommandRequest | { commandId: string; command: string; environment: string; undoLimitSeconds?: number }) {
    setHandler(
      turnSignal,
      () => {
        this.granted = true;
      },
      { description: MESSAGE_DESCRIPTIONS.turn },
    );
    setHandler(
      progressQuery,
      () => ({
      commandId: request.commandId,
      command: request.command as ContainerCommand,
      container: 'container' in request ? request.container : request.environment,
      phase: this.phase,
      step: this.current,
      stepsDone: [...this.done],
      host: this.host,
      target: this.target,
      error: this.error,
      }),
      { description: MESSAGE_DESCRIPTIONS.progress },
    );
  }

  /**
   * Runs one step. Its undo is pushed before the step starts: every undo is idempotent, so it is
   * safe to run even when the step never happened, and nothing is missed when a step completes
   * just as the command is cancelled.
   */
  async step<T>(what: string, action: () => Promise<T>, undo?: () => Promise<unknown>, options: StepOptions = {}): Promise<T> {
    if (undo) this.compensations.push({ what, run: async () => void (await undo()), forgets: options.forgets });
    this.current = what;
    const result = await action();
    this.done.push(what);
    return result;
  }

  /**
   * Runs the step that makes the command's outcome final (the registry commit). It runs to its
   * end even when a cancel arrives meanwhile: a cancel that comes after it is too late, and the
   * command completes. Nothing before it is undone afterwards.
   */
  async commit<T>(what: string, action: () => Promise<T>): Promise<T> {
    this.current = what;
    const result = await CancellationScope.nonCancellable(action);
    this.done.push(what);
    this.compensations.length = 0;
    return result;
  }

  /** After this, failures no longer unwind what is done: the command only moves forward. */
  pointOfNoReturn(): void {
    this.compensations.length = 0;
  }

  tagHosts(...hosts: (string | undefined)[]): void {
    const names = [...new Set(hosts.filter((h): h is string => !!h))];
    if (names.length) upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.hypervisor, value: names }]);
  }

  /**
   * Runs the command body: waits for the turn (when an entity queues it), then the body; on
   * failure or cancel unwinds the compensations in a non-cancellable scope and rethrows.
   */
  async run<T extends object>(queued: boolean, body: () => Promise<T>): Promise<T & { steps: string[] }> {
    try {
      if (queued) await condition(() => this.granted);
      this.phase = 'running';
      const out = await body();
      this.phase = 'completed';
      this.current = 'done';
      return { ...out, steps: [...this.done] };
    } catch (err) {
      const cancelled = isCancellation(err);
      this.error = cancelled ? 'cancelled' : messageOf(err);
      if (this.compensations.length) {
        this.phase = 'compensating';
        await CancellationScope.nonCancellable(() => this.compensate());
      }
      this.phase = cancelled ? 'cancelled' : 'failed';
      if (this.gaveUp && this.containerId) {
        const { command, commandId } = this.request;
        const name = 'container' in this.request ? this.request.container : this.request.environment;
        const incomplete = new UndoIncompleteError(command, name, this.error ?? 'failed', this.gaveUp.undo, this.gaveUp.error);
        await CancellationScope.nonCancellable(() => this.retrying('flag it unknown', () => registry.markUnknown({ containerId: this.containerId!, commandId, reason: incomplete.message })));
        throw incomplete;
      }
      throw commandFailure(err);
    }
  }

  /**
   * Unwinds in reverse. Each undo retries with backoff for as long as it takes (up to
   * UNDO_LIMIT_SECONDS): a transient failure must not decide a VM's fate. An undo that finds the
   * VM missing, or runs out of time, gives up: the undos that would make the registry forget
   * the container are skipped, and the command leaves it `unknown`.
   */
  private async compensate(): Promise<void> {
    for (const c of this.compensations.reverse()) {
      if (this.gaveUp && c.forgets) {
        this.done.push(`kept: ${c.what} (an earlier undo gave up)`);
        continue;
      }
      const ok = await this.retrying(`undo: ${c.what}`, c.run);
      if (ok) this.done.push(`undone: ${c.what}`);
    }
  }

  private async retrying(what: string, run: () => Promise<void>): Promise<boolean> {
    const limitMs = (this.request.undoLimitSeconds ?? UNDO_LIMIT_SECONDS) * 1000;
    const started = Date.now();
    let delay = UNDO_FIRST_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      this.current = what;
      try {
        await run();
        return true;
      } catch (err) {
        const message = messageOf(err);
        const hopeless = fromFailure(err) instanceof VmMissingError;
        if (hopeless || Date.now() - started + delay > limitMs) {
          log.error('undo gave up', { step: what, attempt, error: message, workflowId: workflowInfo().workflowId });
          this.gaveUp ??= { undo: what.replace(/^undo: /, ''), error: message };
          return false;
        }
        this.current = `${what} (attempt ${attempt} failed: ${message}; retrying in ${Math.round(delay / 1000)} s)`;
        await sleep(delay);
        delay = Math.min(delay * 2, UNDO_MAX_RETRY_MS);
      }
    }
  }
}

/**
 * A command ends even on a fault in workflow code: an error that is neither a Temporal failure nor
 * a vmflow error (which the workflow interceptor types) fails it as `InternalError`, instead of
 * failing its workflow task again and again.
 */
export function commandFailure(err: unknown): unknown {
  if (isCancellation(err) || err instanceof TemporalFailure || err instanceof VmflowError) return err;
  return ApplicationFailure.create({ type: 'InternalError', message: (err as Error | undefined)?.message ?? String(err), nonRetryable: true });
}

/** Input of every container command workflow. */
export interface CommandInput<C extends ContainerCommand = ContainerCommand> {
  readonly request: CommandRequest<C>;
  /** True when started by the container's entity, which sends `turn` when it may run. */
  readonly queued: boolean;
}
