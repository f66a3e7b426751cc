// Submitting container and environment commands to their entities, and following them: the
// handle every command returns, and the listing of commands from Temporal's visibility.
import { randomUUID } from 'node:crypto';
import { Client, WithStartWorkflowOperation, WorkflowNotFoundError, type WorkflowExecutionInfo } from '@temporalio/client';
import {
  type CommandArgs,
  type CommandProgress,
  type CommandRequest,
  type CommandResult,
  type ContainerCommand,
  type TrackedState,
  describeCommand,
} from '../domain/commands';
import { CancelledError, InvalidInputError, NotFoundError, fromFailure, unwrapError } from '../domain/errors';
import { SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTE_KEYS, TASK_QUEUE, workflowIds } from '../domain/names';
import type { EnvironmentArgs, EnvironmentCommand, EnvironmentRequest, EnvironmentResult } from '../domain/environments';
import type { Registry } from '../registry/types';
import { executionInfoFromRaw } from '@temporalio/client/lib/helpers';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Page, visibilityPageToken, visibilityTokenOf } from './paging';
import { type EntityStatus, type RetargetArgs, entityStatusQuery, progressQuery, reorderUpdate, retargetUpdate, submitUpdate } from '../domain/messages';

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
    const [p, d] = await Promise.all([handle.query(progressQuery), handle.describe()]);
    // A driver call reports its own sub-step and progress in its heartbeats.
    const beat = d.raw.pendingActivities?.find((a) => a.heartbeatDetails?.payloads?.length);
    let detail: { step?: string; fraction?: number } | undefined;
    if (beat) {
      try {
        detail = this.client.options.loadedDataConverter.payloadConverter.fromPayload<{ step?: string; fraction?: number }>(beat.heartbeatDetails!.payloads![0]!);
      } catch {
        detail = undefined;
      }
    }
    const running = p.phase === 'running' && detail?.step;
    return { ...p, step: running ? `${p.step} — ${detail!.step}` : p.step, fraction: detail?.fraction ?? p.fraction, status: d.status.name };
  }

  /** `container` or `environment`: what the command is about. */
  get kind(): 'container' | 'environment' {
    return this.workflowId.startsWith('environment/') ? 'environment' : 'container';
  }

  /**
   * Where the command is: its workflow status and times, its progress while it runs, its result
   * when it completed or its error when it failed. NotFoundError when there is no such workflow.
   */
  async describe(): Promise<CommandInfo> {
    const handle = this.client.workflow.getHandle(this.workflowId);
    let d;
    try {
      d = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || (err as Error)?.name === 'WorkflowNotFoundError') throw new NotFoundError('command', this.workflowId);
      throw err;
    }
    const info: CommandInfo = {
      ...summaryOf(d),
      commandId: this.commandId,
      command: this.command,
      kind: this.kind,
      target: this.target,
    };
    if (d.status.name === 'RUNNING') {
      try {
        return { ...info, progress: await this.progress() };
      } catch {
        return info;
      }
    }
    try {
      return { ...info, result: await handle.result() };
    } catch (err) {
      const e = isCancelled(err) ? new CancelledError(this.commandId) : unwrapError(err);
      return { ...info, error: { code: (e as { code?: string }).code ?? 'INTERNAL', message: e.message } };
    }
  }

  /**
   * Moves this command, while it waits in its entity's queue, to `position` (0 = next to run,
   * after the command that is running); the new order must still be a valid sequence of
   * commands. Returns the queue's command ids in their new order.
   */
  async reorder(position: number): Promise<string[]> {
    const entityId = this.kind === 'environment' ? workflowIds.environmentEntity(this.target) : workflowIds.containerEntity(this.target);
    try {
      return await this.client.workflow.getHandle(entityId).executeUpdate(reorderUpdate, { args: [{ commandId: this.commandId, position }] });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || (err as Error)?.name === 'WorkflowNotFoundError') throw new NotFoundError('queued command', this.workflowId);
      throw unwrapError(err);
    }
  }

  /** Changes what a pending command will do; only migrate accepts it (a new target, before its claim). */
  async modify(change: RetargetArgs): Promise<{ target?: string }> {
    if (this.command !== 'migrate') throw new NotFoundError('modifiable command', `${this.command} ${this.target}`);
    try {
      return await this.client.workflow.getHandle(this.workflowId).executeUpdate(retargetUpdate, { args: [change] });
    } catch (err) {
      throw unwrapError(err);
    }
  }
}

/** One command as Temporal's visibility lists it. Times are ISO 8601 UTC. */
export interface CommandSummary {
  readonly workflowId: string;
  readonly commandId: string;
  readonly command: string;
  readonly kind: 'container' | 'environment';
  readonly target: string;
  /** RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, CONTINUED_AS_NEW. */
  readonly status: string;
  readonly startedAt: string;
  readonly closedAt?: string;
  /** What it does, in a sentence. */
  readonly summary?: string;
  readonly requestedBy?: string;
  readonly hosts?: readonly string[];
}

export interface CommandInfo extends CommandSummary {
  readonly progress?: CommandProgress & { status: string };
  readonly result?: unknown;
  readonly error?: { readonly code: string; readonly message: string };
}

/** Filters of a command listing; each names a search attribute. */
export interface CommandFilter {
  readonly container?: string;
  readonly environment?: string;
  readonly hypervisor?: string;
  /** `migrate`, or `environment.start` for an environment's command. */
  readonly command?: string;
  /** Running, Completed, Failed, Cancelled, Terminated, TimedOut (Temporal's visibility spells it Canceled; both are taken). */
  readonly status?: string;
  /** Most commands returned, newest first. Default 50. */
  readonly limit?: number;
}

/** Temporal's visibility values of ExecutionStatus; vmflow spells the cancelled one `Cancelled` everywhere else. */
const EXECUTION_STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'TimedOut', 'ContinuedAsNew'];
const STATUS_NAMES = ['Running', 'Completed', 'Failed', 'Cancelled', 'Terminated', 'TimedOut', 'ContinuedAsNew'];

/** The visibility query of a filter: every value is checked, so none can change the query. */
export function commandQuery(filter: CommandFilter): string {
  const parts = [`${SEARCH_ATTRIBUTES.command} IS NOT NULL`];
  const add = (field: string, attribute: string, value: string | undefined) => {
    if (value === undefined) return;
    if (typeof value !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(value)) throw new InvalidInputError([{ field, problem: 'must be 1-128 letters, digits, _ . : -' }], 'command filter');
    parts.push(`${attribute} = '${value}'`);
  };
  add('container', SEARCH_ATTRIBUTES.container, filter.container);
  add('environment', SEARCH_ATTRIBUTES.environment, filter.environment);
  add('hypervisor', SEARCH_ATTRIBUTES.hypervisor, filter.hypervisor);
  add('command', SEARCH_ATTRIBUTES.command, filter.command);
  if (filter.status !== undefined) {
    const status = EXECUTION_STATUSES.find((s) => s.toLowerCase() === String(filter.status).toLowerCase().replace(/_/g, '').replace('cancelled', 'canceled'));
    if (!status) throw new InvalidInputError([{ field: 'status', problem: `must be one of ${STATUS_NAMES.join(', ')}` }], 'command filter');
    parts.push(`ExecutionStatus = '${status}'`);
  }
  return parts.join(' AND ');
}

function summaryOf(w: Omit<WorkflowExecutionInfo, 'raw'>): CommandSummary {
  const m = /^(container|environment)\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(w.workflowId);
  const hosts = w.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.hypervisor);
  const memo = (w.memo ?? {}) as { summary?: unknown; requestedBy?: unknown };
  return {
    workflowId: w.workflowId,
    commandId: m?.[4] ?? w.workflowId,
    command: m?.[3] ?? w.type,
    kind: m?.[1] === 'environment' ? 'environment' : 'container',
    target: m?.[2] ?? '',
    status: w.status.name,
    startedAt: w.startTime.toISOString(),
    ...(w.closeTime ? { closedAt: w.closeTime.toISOString() } : {}),
    ...(typeof memo.summary === 'string' ? { summary: memo.summary } : {}),
    ...(typeof memo.requestedBy === 'string' ? { requestedBy: memo.requestedBy } : {}),
    ...(Array.isArray(hosts) && hosts.length ? { hosts: hosts.map(String) } : {}),
  };
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
  missing: 'missing',
  unknown: 'unknown',
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
    const req: CommandRequest<C> = {
      commandId: options.commandId ?? randomUUID(),
      command,
      container,
      args,
      requestedAt: new Date().toISOString(),
      requestedBy,
      ...(options.environment ? { environment: options.environment } : {}),
    };
    // A create starts its own workflow; a name already taken fails its registration cleanly.
    if (command === 'create') return this.startCreate(req as CommandRequest<'create'>);
    const node = await this.registry.findByName(container);
    if (!node || node.type !== 'container') throw new NotFoundError('container', container);
    const state: TrackedState = TRACKED[node.state] ?? 'stopped';
    const entityId = workflowIds.containerEntity(container);
    try {
      const accepted = await this.client.workflow.executeUpdateWithStart(submitUpdate, {
        args: [req],
        startWorkflowOperation: new WithStartWorkflowOperation('containerEntity', {
          workflowId: entityId,
          taskQueue: TASK_QUEUE,
          args: [{ target: container, state }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.container, value: container }],
          staticSummary: `commands of container ${container}, one at a time`,
        }),
      });
      return new CommandHandle(this.client, accepted.workflowId, accepted.commandId, command, container);
    } catch (err) {
      throw fromFailure(err) ?? err;
    }
  }

  /**
   * A create starts its workflow directly: until it commits, the container is `new` and its
   * entity accepts no other command, so there is nothing to queue behind and one round of
   * workflow tasks is saved.
   */
  private async startCreate(req: CommandRequest<'create'>): Promise<CommandHandle> {
    const workflowId = workflowIds.containerCommand(req.container, 'create', req.commandId);
    try {
      await this.client.workflow.start('createContainer', {
        workflowId,
        taskQueue: TASK_QUEUE,
        args: [{ request: req, queued: false }],
        typedSearchAttributes: [
          { key: SEARCH_ATTRIBUTE_KEYS.container, value: req.container },
          { key: SEARCH_ATTRIBUTE_KEYS.command, value: 'create' },
          ...(req.environment ? [{ key: SEARCH_ATTRIBUTE_KEYS.environment, value: req.environment }] : []),
        ],
        memo: { summary: describeCommand(req), requestedBy: req.requestedBy ?? 'unknown' },
        staticSummary: describeCommand(req),
      });
      return new CommandHandle(this.client, workflowId, req.commandId, 'create', req.container);
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

  /**
   * Commands of containers and environments, newest first, from Temporal's visibility (search
   * attributes VmflowContainer, VmflowEnvironment, VmflowHypervisor, VmflowCommand). Visibility
   * is eventually consistent: a command accepted a moment ago may not be listed yet.
   */
  async list(filter: CommandFilter = {}): Promise<CommandSummary[]> {
    const limit = filter.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new InvalidInputError([{ field: 'limit', problem: 'must be an integer from 1 to 1000' }], 'command filter');
    const query = commandQuery(filter);
    const out: CommandSummary[] = [];
    for await (const w of this.client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
      out.push(summaryOf(w));
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * One page of commands, newest first, from Temporal's visibility: the page after `pageToken`
   * (from the previous page's `nextPageToken`), each page a single visibility call however deep
   * it is. Same filters as `list`; `pageSize` from 1 to 1000, default 100.
   */
  async page(filter: Omit<CommandFilter, 'limit'> & { readonly pageSize?: number; readonly pageToken?: string } = {}): Promise<Page<CommandSummary>> {
    const pageSize = filter.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
      throw new InvalidInputError([{ field: 'pageSize', problem: `must be an integer from 1 to ${MAX_PAGE_SIZE}` }], 'command filter');
    const query = commandQuery(filter);
    const nextPageToken = filter.pageToken === undefined ? undefined : visibilityTokenOf(filter.pageToken);
    const { namespace, loadedDataConverter } = this.client.options;
    let response;
    try {
      response = await this.client.workflowService.listWorkflowExecutions({ namespace, query, pageSize, nextPageToken });
    } catch (err) {
      // A token visibility does not accept (from another list, or expired) is the caller's mistake.
      if (nextPageToken && (err as { code?: unknown })?.code === GRPC_INVALID_ARGUMENT)
        throw new InvalidInputError([{ field: 'pageToken', problem: 'is not a page token from this list' }], 'page');
      throw err;
    }
    const items = await Promise.all((response.executions ?? []).map(async (raw) => summaryOf(await executionInfoFromRaw(raw, loadedDataConverter, raw, namespace))));
    const token = response.nextPageToken;
    return { items, ...(token && token.length ? { nextPageToken: visibilityPageToken(token) } : {}) };
  }

  /** Moves a queued command of a container to `position` in its queue (0 = next to run). */
  async reorder(container: string, commandId: string, position: number): Promise<string[]> {
    try {
      return await this.client.workflow.getHandle(workflowIds.containerEntity(container)).executeUpdate(reorderUpdate, {
        args: [{ commandId, position }],
      });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NotFoundError('queued command', commandId);
      throw unwrapError(err);
    }
  }

  /** The container's queue and recent commands, from its entity; undefined when none runs. */
  async queue(container: string): Promise<EntityStatus | undefined> {
    try {
      return await this.client.workflow.getHandle(workflowIds.containerEntity(container)).query(entityStatusQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  describe(req: Pick<CommandRequest, 'command' | 'container' | 'args'>): string {
    return describeCommand(req);
  }
}

/** gRPC's status code for a request the server refuses as malformed. */
const GRPC_INVALID_ARGUMENT = 3;

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
      const accepted = await this.client.workflow.executeUpdateWithStart(submitUpdate, {
        args: [req],
        startWorkflowOperation: new WithStartWorkflowOperation('environmentEntity', {
          workflowId: workflowIds.environmentEntity(environment),
          taskQueue: TASK_QUEUE,
          args: [{ target: environment, state: node ? 'active' : 'absent' }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.environment, value: environment }],
          staticSummary: `commands of environment ${environment}, one at a time`,
        }),
      });
      return new CommandHandle<EnvironmentResult>(this.client, accepted.workflowId, accepted.commandId, command, environment);
    } catch (err) {
      throw fromFailure(err) ?? err;
    }
  }
}
