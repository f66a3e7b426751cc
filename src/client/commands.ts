// Submitting container commands and following them: the handle every command returns.
import { randomUUID } from 'node:crypto';
import { Client, WithStartWorkflowOperation, WorkflowNotFoundError } from '@temporalio/client';
import {
  type CommandAccepted,
  type CommandArgs,
  type CommandProgress,
  type CommandRequest,
  type CommandResult,
  type ContainerCommand,
  type TrackedState,
  describeCommand,
} from '../domain/commands';
import { CancelledError, NotFoundError, fromFailure, unwrapError } from '../domain/errors';
import { SEARCH_ATTRIBUTES, TASK_QUEUE, workflowIds } from '../domain/names';
import type { EnvironmentArgs, EnvironmentCommand, EnvironmentRequest, EnvironmentResult } from '../domain/environments';
import type { Registry } from '../registry/types';
import type { RetargetArgs } from '../../workflows/container-commands';

/** A submitted command: follow it, cancel it, change it. */
export class CommandHandle<R = CommandResult> {
  constructor(
    private readonly client: Client,
    readonly workflowId: string,
    readonly commandId: string,
    readonly command: string,
    readonly target: string,
  ) {}

  /** Waits for the command to end; throws its typed error when it failed, CancelledError when cancelled. */
  async result(): Promise<R> {
    try {
      return await this.client.workflow.getHandle(this.workflowId).result();
    } catch (err) {
      if (isCancelled(err)) throw new CancelledError(this.commandId);
      throw unwrapError(err);
    }
  }

  /** Cancels it: a queued command leaves the queue; a running one is compensated. */
  async cancel(): Promise<void> {
    await this.client.workflow.getHandle(this.workflowId).cancel();
  }

  /** Its current step and phase, with the driver's progress for the step when it reports one. */
  async progress(): Promise<CommandProgress & { status: string }> {
    const handle = this.client.workflow.getHandle(this.workflowId);
    const [p, d] = await Promise.all([handle.query<CommandProgress>('progress'), handle.describe()]);
    const beat = d.raw.pendingActivities?.find((a) => a.heartbeatDetails?.payloads?.length);
    let fraction: number | undefined;
    if (beat) {
      try {
        const details = this.client.options.loadedDataConverter.payloadConverter.fromPayload<{ fraction?: number }>(beat.heartbeatDetails!.payloads![0]!);
        fraction = details?.fraction;
      } catch {
        fraction = undefined;
      }
    }
    return { ...p, fraction: fraction ?? p.fraction, status: d.status.name };
  }

  /** Changes what a pending command will do; only migrate accepts it (a new target, before its claim). */
  async modify(change: RetargetArgs): Promise<{ target?: string }> {
    if (this.command !== 'migrate') throw new NotFoundError('modifiable command', `${this.command} ${this.target}`);
    try {
      return await this.client.workflow.getHandle(this.workflowId).executeUpdate<{ target?: string }, [RetargetArgs]>('retarget', { args: [change] });
    } catch (err) {
      throw unwrapError(err);
    }
  }
}

function isCancelled(err: unknown): boolean {
  let e: any = err;
  for (let i = 0; e && i < 6; i++) {
    if (e.name === 'CancelledFailure') return true;
    e = e.cause;
  }
  return false;
}

const TRACKED: Record<string, TrackedState> = {
  new: 'new',
  stopped: 'stopped',
  running: 'running',
  suspended: 'suspended',
  lost: 'lost',
  illegal: 'illegal',
};

/** Sends commands to containers through their entity workflows. */
export class ContainerCommands {
  constructor(
    private readonly client: Client,
    private readonly registry: Registry,
  ) {}

  async submit<C extends ContainerCommand>(
    container: string,
    command: C,
    args: CommandArgs[C],
    requestedBy?: string,
    options: { commandId?: string; environment?: string } = {},
  ): Promise<CommandHandle> {
    const node = await this.registry.findByName(container);
    if (command !== 'create' && (!node || node.type !== 'container')) throw new NotFoundError('container', container);
    const state: TrackedState = node ? (TRACKED[node.state] ?? 'stopped') : 'absent';
    const req: CommandRequest<C> = {
      commandId: options.commandId ?? randomUUID(),
      command,
      container,
      args,
      requestedAt: new Date().toISOString(),
      requestedBy,
      ...(options.environment ? { environment: options.environment } : {}),
    };
    const entityId = workflowIds.containerEntity(container);
    try {
      const accepted = await this.client.workflow.executeUpdateWithStart<any, CommandAccepted, [CommandRequest]>('submit', {
        args: [req],
        startWorkflowOperation: new WithStartWorkflowOperation('containerEntity', {
          workflowId: entityId,
          taskQueue: TASK_QUEUE,
          args: [{ target: container, state }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          searchAttributes: { [SEARCH_ATTRIBUTES.container]: [container] },
          staticSummary: `commands of container ${container}, one at a time`,
        }),
      });
      return new CommandHandle(this.client, accepted.workflowId, accepted.commandId, command, container);
    } catch (err) {
      throw fromFailure(err) ?? err;
    }
  }

  /** A handle for a command submitted earlier, by its workflow id. */
  handle(workflowId: string): CommandHandle<any> {
    const m = /^(?:container|environment)\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(workflowId);
    if (!m) throw new NotFoundError('command', workflowId);
    return new CommandHandle(this.client, workflowId, m[3]!, m[2]!, m[1]!);
  }

  /** The container's queue and recent commands, from its entity; undefined when none runs. */
  async queue(container: string): Promise<unknown> {
    try {
      return await this.client.workflow.getHandle(workflowIds.containerEntity(container)).query('status');
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  describe(req: Pick<CommandRequest, 'command' | 'container' | 'args'>): string {
    return describeCommand(req);
  }
}

/** Sends commands to environments through their entity workflows. */
export class EnvironmentCommands {
  constructor(
    private readonly client: Client,
    private readonly registry: Registry,
  ) {}

  async submit<C extends EnvironmentCommand>(environment: string, command: C, args: EnvironmentArgs[C], requestedBy?: string): Promise<CommandHandle<EnvironmentResult>> {
    const node = await this.registry.findByName(environment);
    if (command !== 'create' && (!node || node.type !== 'environment')) throw new NotFoundError('environment', environment);
    const req: EnvironmentRequest<C> = { commandId: randomUUID(), command, environment, args, requestedAt: new Date().toISOString(), requestedBy };
    try {
      const accepted = await this.client.workflow.executeUpdateWithStart<any, CommandAccepted, [EnvironmentRequest]>('submit', {
        args: [req],
        startWorkflowOperation: new WithStartWorkflowOperation('environmentEntity', {
          workflowId: workflowIds.environmentEntity(environment),
          taskQueue: TASK_QUEUE,
          args: [{ target: environment, state: node ? 'active' : 'absent' }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          searchAttributes: { [SEARCH_ATTRIBUTES.environment]: [environment] },
          staticSummary: `commands of environment ${environment}, one at a time`,
        }),
      });
      return new CommandHandle<EnvironmentResult>(this.client, accepted.workflowId, accepted.commandId, command, environment);
    } catch (err) {
      throw fromFailure(err) ?? err;
    }
  }
}
