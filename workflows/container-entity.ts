// One entity workflow per container: accepts commands by Update (the validator refuses an
// impossible one at once), starts each as a child that waits for its turn, and lets them run
// one at a time in acceptance order. It ends when idle, and continues as new when its history grows.
import {
  ChildWorkflowCancellationType,
  ChildWorkflowHandle,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import {
  type CommandAccepted,
  type CommandRequest,
  type CommandResult,
  type ContainerCommand,
  type TrackedState,
  describeCommand,
  isContainerCommand,
  nextState,
} from '../src/domain/commands';
import { InvalidInputError } from '../src/domain/errors';
import { SEARCH_ATTRIBUTES, workflowIds } from '../src/domain/names';
import * as commands from './container-commands';
import { refuseWith, turnSignal } from './kit';

export const submitUpdate = defineUpdate<CommandAccepted, [CommandRequest]>('submit');
/** Moves a queued (not yet running) command to a new position in the queue. */
export const reorderUpdate = defineUpdate<string[], [{ commandId: string; position: number }]>('reorder');
/** The monitor reports what the host shows (a VM stopped behind vmflow's back). */
export const observedSignal = defineSignal<[{ state: TrackedState; cause: string }]>('observed');
export const entityStatusQuery = defineQuery<EntityStatus>('status');

export interface EntityInput {
  readonly container: string;
  readonly state: TrackedState;
  /** How long to wait for more commands before ending. */
  readonly idleSeconds?: number;
  readonly recent?: readonly FinishedCommand[];
}

export interface FinishedCommand {
  readonly commandId: string;
  readonly command: ContainerCommand;
  readonly workflowId: string;
  readonly outcome: 'completed' | 'failed' | 'cancelled';
  readonly error?: string;
}

export interface EntityStatus {
  readonly container: string;
  readonly state: TrackedState;
  readonly queue: ReadonlyArray<{ commandId: string; command: ContainerCommand; workflowId: string; running: boolean }>;
  readonly recent: readonly FinishedCommand[];
}

const WORKFLOW_OF: Record<ContainerCommand, (input: any) => Promise<CommandResult>> = {
  create: commands.createContainer,
  start: commands.startContainer,
  stop: commands.stopContainer,
  shutdown: commands.shutdownContainer,
  reboot: commands.rebootContainer,
  suspend: commands.suspendContainer,
  resume: commands.resumeContainer,
  update: commands.updateContainer,
  destroy: commands.destroyContainer,
  clone: commands.cloneContainer,
  migrate: commands.migrateContainer,
};

interface Pending {
  readonly request: CommandRequest;
  readonly workflowId: string;
  /** The state the container will be in if this command succeeds. */
  readonly projected: TrackedState;
  handle?: ChildWorkflowHandle<any>;
  started?: Promise<void>;
  result?: Promise<void>;
  running: boolean;
  outcome?: { result?: CommandResult; error?: unknown };
}

const RECENT_KEPT = 20;
const HISTORY_LIMIT = 5_000;

function checkShape(req: CommandRequest, container: string): void {
  const problems = [];
  if (!req || typeof req !== 'object') throw new InvalidInputError([{ field: 'request', problem: 'must be an object' }], 'command');
  if (typeof req.commandId !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(req.commandId)) problems.push({ field: 'commandId', problem: 'must be 1-64 letters, digits, _ . -' });
  if (typeof req.command !== 'string' || !isContainerCommand(req.command)) problems.push({ field: 'command', problem: `is not a container command` });
  if (req.container !== container) problems.push({ field: 'container', problem: `must be ${container}, the container this entity serves` });
  if (req.args === null || typeof req.args !== 'object') problems.push({ field: 'args', problem: 'must be an object' });
  if (problems.length) throw new InvalidInputError(problems, 'command');
}

export async function containerEntity(input: EntityInput): Promise<void> {
  let state: TrackedState = input.state;
  const queue: Pending[] = [];
  const recent: FinishedCommand[] = [...(input.recent ?? [])];
  const seen = new Set<string>(recent.map((r) => r.commandId));

  const projected = (): TrackedState => (queue.length ? queue[queue.length - 1]!.projected : state);

  setHandler(
    submitUpdate,
    async (req) => {
      // Re-checked here: several updates can be validated before any handler has queued.
      const after = nextState(projected(), req.command, req.container, req.args as never);
      const workflowId = workflowIds.containerCommand(req.container, req.command, req.commandId);
      const p: Pending = { request: req, workflowId, projected: after, running: false };
      queue.push(p);
      seen.add(req.commandId);
      p.started = startChild(WORKFLOW_OF[req.command], {
        workflowId,
        args: [{ request: req, queued: true }],
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        searchAttributes: {
          [SEARCH_ATTRIBUTES.container]: [req.container],
          [SEARCH_ATTRIBUTES.command]: [req.command],
        },
        memo: { summary: describeCommand(req), requestedBy: req.requestedBy ?? 'unknown' },
        staticSummary: describeCommand(req),
      }).then((h) => {
        p.handle = h;
        p.result = h.result().then(
          (result) => void (p.outcome = { result }),
          (error) => void (p.outcome = { error }),
        );
      });
      await p.started;
      return { commandId: req.commandId, workflowId, position: queue.indexOf(p) };
    },
    {
      validator: (req) =>
        refuseWith(() => {
          checkShape(req, input.container);
          if (seen.has(req.commandId)) throw new InvalidInputError([{ field: 'commandId', problem: `${req.commandId} was already submitted` }], 'command');
          nextState(projected(), req.command, req.container, req.args as never);
        }),
    },
  );

  setHandler(
    reorderUpdate,
    ({ commandId, position }) => {
      const i = queue.findIndex((p) => p.request.commandId === commandId);
      const [moved] = queue.splice(i, 1);
      const firstMovable = queue.findIndex((p) => !p.running);
      const at = Math.max(firstMovable === -1 ? queue.length : firstMovable, Math.min(position, queue.length));
      queue.splice(at, 0, moved!);
      return queue.map((p) => p.request.commandId);
    },
    {
      validator: ({ commandId, position }) =>
        refuseWith(() => {
        const p = queue.find((q) => q.request.commandId === commandId);
        if (!p) throw new InvalidInputError([{ field: 'commandId', problem: `${commandId} is not queued on ${input.container}` }]);
        if (p.running) throw new InvalidInputError([{ field: 'commandId', problem: `${commandId} is already running` }]);
        if (!Number.isInteger(position) || position < 0) throw new InvalidInputError([{ field: 'position', problem: 'must be an integer >= 0' }]);
        // A reordered queue must still be a valid sequence of transitions.
        const order = queue.filter((q) => q !== p);
        order.splice(Math.min(position, order.length), 0, p);
        order.reduce((s, q) => nextState(s, q.request.command, q.request.container, q.request.args as never), state);
        }),
    },
  );

  setHandler(observedSignal, ({ state: observed }) => {
    if (!queue.some((p) => p.running)) state = observed;
  });

  setHandler(entityStatusQuery, () => ({
    container: input.container,
    state,
    queue: queue.map((p) => ({ commandId: p.request.commandId, command: p.request.command, workflowId: p.workflowId, running: p.running })),
    recent,
  }));

  const idleMs = (input.idleSeconds ?? 300) * 1000;
  for (;;) {
    const hasWork = await condition(() => queue.length > 0, idleMs);
    if (!hasWork || (state === 'destroyed' && queue.length === 0)) {
      await condition(allHandlersFinished);
      if (queue.length === 0) return;
      continue;
    }
    const head = queue[0]!;
    await head.started;
    if (!head.outcome) {
      head.running = true;
      try {
        await head.handle!.signal(turnSignal);
      } catch {
        // It ended before its turn (cancelled while queued): its outcome arrives below.
      }
      await head.result;
    }
    queue.shift();
    const { result, error } = head.outcome ?? {};
    if (result) state = result.state;
    recent.push({
      commandId: head.request.commandId,
      command: head.request.command,
      workflowId: head.workflowId,
      outcome: result ? 'completed' : isCancellation(error) ? 'cancelled' : 'failed',
      error: error ? String((error as any)?.cause?.message ?? (error as any)?.message ?? error) : undefined,
    });
    if (recent.length > RECENT_KEPT) recent.splice(0, recent.length - RECENT_KEPT);
    if (queue.length === 0 && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > HISTORY_LIMIT)) {
      await condition(allHandlersFinished);
      if (queue.length === 0) await continueAsNew<typeof containerEntity>({ ...input, state, recent });
    }
  }
}
