// An entity workflow serialises the commands on one thing (a container, an environment). It
// accepts commands by Update — the validator refuses an impossible one at once — starts each
// as a child that waits for its turn, and lets them run one at a time in acceptance order. It
// ends when idle, and continues as new when its history grows.
import {
  ChildWorkflowCancellationType,
  type ChildWorkflowHandle,
  type Workflow,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import { InvalidInputError, UndoIncompleteError, fromFailure, type FieldProblem } from '../src/domain/errors';
import { type EntityRequest, type FinishedCommand, MESSAGE_DESCRIPTIONS, entityStatusQuery, observedSignal, reorderUpdate, submitUpdate, turnSignal } from '../src/domain/messages';

export interface EntityInput {
  /** The name of what the entity serves. */
  readonly target: string;
  readonly state: string;
  /** How long to wait for more commands before ending. */
  readonly idleSeconds?: number;
  readonly recent?: readonly FinishedCommand[];
}

/** What differs between kinds of entity. */
export interface EntitySpec<R extends EntityRequest> {
  /** Throws (a vmflow error) when the request is malformed or not about `target`. */
  checkShape(req: R, target: string): void;
  /** The state after `req` succeeds from `state`; throws the reason when it cannot run. */
  next(state: string, req: R): string;
  /** The state in which the entity has nothing more to serve. */
  readonly terminal: string;
  workflowFor(req: R): Workflow;
  childId(req: R): string;
  searchAttributes(req: R): SearchAttributePair[];
  describe(req: R): string;
  /** Reads the state a finished command left. */
  stateAfter(result: unknown): string | undefined;
  continueAsNew(input: EntityInput): Promise<never>;
}

interface Pending<R> {
  readonly request: R;
  readonly workflowId: string;
  /** The state once it has run, in queue order (recomputed when the queue is reordered). */
  projected: string;
  /** False when nothing was ahead of it: it runs at once, without waiting for its turn. */
  readonly queued: boolean;
  handle?: ChildWorkflowHandle<Workflow>;
  started?: Promise<void>;
  result?: Promise<void>;
  running: boolean;
  outcome?: { result?: unknown; error?: unknown };
}

const RECENT_KEPT = 20;
const HISTORY_LIMIT = 5_000;

export function commonShapeProblems(req: EntityRequest): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (typeof req.commandId !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(req.commandId)) problems.push({ field: 'commandId', problem: 'must be 1-64 letters, digits, _ . -' });
  if (req.args === null || typeof req.args !== 'object') problems.push({ field: 'args', problem: 'must be an object' });
  return problems;
}

/** A failed command whose undo could not finish names the state it left (`unknown`). */
function stateAfterFailure(error: unknown): string | undefined {
  const known = fromFailure(error);
  return known instanceof UndoIncompleteError ? known.state : undefined;
}

/** What an entity holds while it runs: the state it projects from, its queue and what finished. */
interface Entity<R> {
  state: string;
  readonly queue: Pending<R>[];
  readonly recent: FinishedCommand[];
  readonly seen: Set<string>;
  /** The head the loop took to run next, from before its child has started until it is done. */
  current?: Pending<R>;
}

/** The state once everything queued has run; failed or cancelled commands drop out of it. */
function projected<R>(e: Entity<R>): string {
  return e.queue.length ? e.queue[e.queue.length - 1]!.projected : e.state;
}

export async function runEntity<R extends EntityRequest>(spec: EntitySpec<R>, input: EntityInput): Promise<void> {
  const recent: FinishedCommand[] = [...(input.recent ?? [])];
  const e: Entity<R> = { state: input.state, queue: [], recent, seen: new Set<string>(recent.map((r) => r.commandId)) };
  const { queue } = e;
  handleSubmit(spec, input, e);
  handleReorder(spec, input, e);

  setHandler(
    observedSignal,
    ({ state: observed }) => {
      if (!queue.some((p) => p.running)) e.state = observed;
    },
    { description: MESSAGE_DESCRIPTIONS.observed },
  );

  setHandler(
    entityStatusQuery,
    () => ({
      target: input.target,
      state: e.state,
      queue: queue.map((p) => ({ commandId: p.request.commandId, command: p.request.command, workflowId: p.workflowId, running: p.running })),
      recent,
    }),
    { description: MESSAGE_DESCRIPTIONS.status },
  );

  const idleMs = (input.idleSeconds ?? 300) * 1000;
  for (;;) {
    const hasWork = await condition(() => queue.length > 0, idleMs);
    if (!hasWork || (e.state === spec.terminal && queue.length === 0)) {
      await condition(allHandlersFinished);
      if (queue.length === 0) return;
      continue;
    }
    const head = queue[0]!;
    e.current = head;
    await head.started;
    if (!head.outcome) {
      head.running = true;
      if (head.queued) {
        try {
          await head.handle!.signal(turnSignal);
        } catch {
          // It ended before its turn (cancelled while queued): its outcome arrives below.
        }
      }
      await head.result;
    }
    queue.shift();
    e.current = undefined;
    recordFinished(spec, e, head);
    if (queue.length === 0 && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > HISTORY_LIMIT)) {
      await condition(allHandlersFinished);
      if (queue.length === 0) await spec.continueAsNew({ ...input, state: e.state, recent });
    }
  }
}

/** Accepts a command: the validator refuses an impossible one; the handler starts its child, queued. */
function handleSubmit<R extends EntityRequest>(spec: EntitySpec<R>, input: EntityInput, e: Entity<R>): void {
  const { queue, seen } = e;
  const validate = (req: R) => {
    if (!req || typeof req !== 'object') throw new InvalidInputError([{ field: 'request', problem: 'must be an object' }], 'command');
    spec.checkShape(req, input.target);
    if (seen.has(req.commandId)) throw new InvalidInputError([{ field: 'commandId', problem: `${req.commandId} was already submitted` }], 'command');
    spec.next(projected(e), req);
  };

  setHandler(
    submitUpdate,
    async (raw) => {
      const req = raw as R;
      // Checked again here: several updates can be validated before any handler has queued.
      const after = spec.next(projected(e), req);
      const workflowId = spec.childId(req);
      const p: Pending<R> = { request: req, workflowId, projected: after, queued: queue.length > 0, running: false };
      queue.push(p);
      seen.add(req.commandId);
      p.started = startChild(spec.workflowFor(req), {
        workflowId,
        args: [{ request: req, queued: p.queued }],
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        typedSearchAttributes: spec.searchAttributes(req),
        memo: { summary: spec.describe(req), requestedBy: req.requestedBy ?? 'unknown' },
        staticSummary: spec.describe(req),
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
    { validator: (req) => validate(req as R), description: MESSAGE_DESCRIPTIONS.submit },
  );
}

/**
 * Whether a reorder must leave `p` where it is, at the front: it runs, the loop has taken it to run
 * next, or it was accepted into an empty queue and so runs without waiting for its turn.
 */
function staysAhead<R>(e: Entity<R>, p: Pending<R>): boolean {
  return p.running || p === e.current || !p.queued;
}

/**
 * The queue with `moved` at `position`, counted with the running command at 0: nothing moves
 * ahead of the commands that stay ahead, so 0 and 1 both mean next when one runs. `keepHead`
 * false is the order before the 'reorder-keeps-head' patch, which only kept running ones ahead.
 */
function reordered<R>(e: Entity<R>, moved: Pending<R>, position: number, keepHead: boolean): Pending<R>[] {
  const order = e.queue.filter((p) => p !== moved);
  const firstMovable = order.findIndex((p) => (keepHead ? !staysAhead(e, p) : !p.running));
  order.splice(Math.max(firstMovable === -1 ? order.length : firstMovable, Math.min(position, order.length)), 0, moved);
  return order;
}

/** The state after each command of `order`, from the state before the first; throws the first that cannot run. */
function projections<R extends EntityRequest>(spec: EntitySpec<R>, e: Entity<R>, order: readonly Pending<R>[]): string[] {
  const states: string[] = [];
  order.reduce((s, q) => {
    const after = spec.next(s, q.request);
    states.push(after);
    return after;
  }, e.state);
  return states;
}

/**
 * Moves a queued command that is not running yet; the new order must still be valid transitions.
 * The validator checks the very order the handler applies.
 */
function handleReorder<R extends EntityRequest>(spec: EntitySpec<R>, input: EntityInput, e: Entity<R>): void {
  const { queue } = e;
  setHandler(
    reorderUpdate,
    ({ commandId, position }) => {
      const moved = queue.find((p) => p.request.commandId === commandId)!;
      if (patched('reorder-keeps-head')) {
        const order = reordered(e, moved, position, true);
        const states = projections(spec, e, order);
        queue.splice(0, queue.length, ...order);
        // Later submissions are checked against the state the new order leads to.
        order.forEach((p, i) => (p.projected = states[i]!));
      } else {
        queue.splice(0, queue.length, ...reordered(e, moved, position, false));
      }
      return queue.map((p) => p.request.commandId);
    },
    {
      validator: ({ commandId, position }) => {
        const p = queue.find((q) => q.request.commandId === commandId);
        if (!p) throw new InvalidInputError([{ field: 'commandId', problem: `${commandId} is not queued on ${input.target}` }], 'reorder');
        if (staysAhead(e, p)) throw new InvalidInputError([{ field: 'commandId', problem: `${commandId} is already running on ${input.target}: it can no longer move` }], 'reorder');
        if (!Number.isInteger(position) || position < 0) throw new InvalidInputError([{ field: 'position', problem: 'must be an integer >= 0' }], 'reorder');
        projections(spec, e, reordered(e, p, position, true));
      },
      description: MESSAGE_DESCRIPTIONS.reorder,
    },
  );
}

/** The finished head sets the state it left and joins the recent commands. */
function recordFinished<R extends EntityRequest>(spec: EntitySpec<R>, e: Entity<R>, head: Pending<R>): void {
  const { result, error } = head.outcome ?? {};
  const after = result === undefined ? stateAfterFailure(error) : spec.stateAfter(result);
  if (after) e.state = after;
  e.recent.push({
    commandId: head.request.commandId,
    command: head.request.command,
    workflowId: head.workflowId,
    outcome: result !== undefined ? 'completed' : isCancellation(error) ? 'cancelled' : 'failed',
    error: error ? String((error as any)?.cause?.message ?? (error as any)?.message ?? error) : undefined,
  });
  if (e.recent.length > RECENT_KEPT) e.recent.splice(0, e.recent.length - RECENT_KEPT);
}
