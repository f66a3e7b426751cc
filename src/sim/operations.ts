// Operations in flight: an operation with a delay holds its VMs busy and its capacity reserved
// until its time is up, then commits; it rolls back instead when it fails, is cancelled, or a host
// it touches crashes. Finished operations stay a while for late polls.
import { SimFault } from './errors';
import { reserve, type Host } from './model';
import type { Plan } from './planner';
import type { SimCancelView, SimErrorBody, SimOpView } from './protocol';

/** Finished operations kept for late polls. */
const FINISHED_KEPT = 2000;

export interface Op {
  readonly id: string;
  readonly host: string;
  readonly operation: string;
  readonly vm: string;
  readonly plan: Plan;
  readonly startedAt: number;
  readonly expectedMs: number;
  /** The injected failure it ends with. */
  readonly failure?: SimErrorBody;
  timer?: NodeJS.Timeout;
  phase: 'running' | 'settling' | 'done';
  settled?: Promise<void>;
  cancelled: boolean;
  result?: unknown;
  error?: SimErrorBody;
}

export type OpInit = Pick<Op, 'id' | 'host' | 'operation' | 'vm' | 'plan' | 'expectedMs' | 'failure'>;

/** The answer to an operation that finished at once. */
export function instantView(host: string, operation: string, vm: string, result: unknown, id = ''): SimOpView {
  return { id, host, operation, vm, done: true, fraction: 1, expectedMs: 0, startedAt: new Date().toISOString(), result };
}

function opView(op: Op): SimOpView {
  const done = op.phase === 'done';
  return {
    id: op.id,
    host: op.host,
    operation: op.operation,
    vm: op.vm,
    done,
    fraction: done ? 1 : Math.min(0.99, (Date.now() - op.startedAt) / op.expectedMs),
    expectedMs: op.expectedMs,
    startedAt: new Date(op.startedAt).toISOString(),
    result: done ? op.result : undefined,
    error: done ? op.error : undefined,
  };
}

export class OpsInFlight {
  private readonly ops = new Map<string, Op>();
  private readonly busy = new Map<string, Op>();
  private readonly bootId = Math.random().toString(36).slice(2, 8);
  private seq = 0;
  private running = 0;

  /** `save()` resolves once the farm's current state is on disk. */
  constructor(private readonly save: (hostIds?: readonly string[]) => Promise<void>) {}

  /** How many operations are in flight. */
  get count(): number {
    return this.running;
  }

  /** An id for an operation whose caller chose none. */
  newId(): string {
    return `${this.bootId}-${++this.seq}`;
  }

  isKnown(opId: string): boolean {
    return this.ops.has(opId);
  }

  /** The id of the operation in flight on VM `name` of host `hostId`. */
  busyWith(hostId: string, name: string): string | undefined {
    return this.busy.get(`${hostId}/${name}`)?.id;
  }

  /** Refuses, as transient, while an operation in flight holds `name` on `host`. */
  notBusy(host: Host, name: string): void {
    const op = this.busy.get(`${host.id}/${name}`);
    // Transient: the same call can succeed once the operation in flight ends.
    if (op) {
      throw new SimFault(409, {
        code: 'refused',
        message: `${name} on ${host.id} is busy: ${op.operation} ${op.id} is in flight`,
        transient: true,
      });
    }
  }

  /** Holds a planned operation in flight for its expected time, then commits it. */
  start(init: OpInit): SimOpView {
    const op: Op = { ...init, startedAt: Date.now(), phase: 'running', cancelled: false };
    this.ops.set(op.id, op);
    this.running++;
    for (const [h, n] of op.plan.busy) this.busy.set(`${h}/${n}`, op);
    for (const r of op.plan.reserve ?? []) reserve(r, 1);
    op.plan.begin?.(op.id);
    op.timer = setTimeout(() => void this.settle(op, () => this.complete(op)), op.expectedMs);
    return opView(op);
  }

  /** The view of an operation of host `hostId`, for polling. */
  view(hostId: string, opId: string): SimOpView {
    return opView(this.opOf(hostId, opId));
  }

  /** Operations in flight. */
  list(): SimOpView[] {
    return [...this.ops.values()].filter((op) => op.phase !== 'done').map(opView);
  }

  /** Rolls an operation back unless it already finished; then waits until it is settled. */
  async cancel(hostId: string, opId: string): Promise<SimCancelView> {
    const op = this.opOf(hostId, opId);
    if (op.phase === 'running') {
      await this.settle(op, () => {
        op.plan.rollback?.(op.id);
        op.cancelled = true;
        op.error = { code: 'cancelled', message: `${op.operation} of ${op.vm} was cancelled and rolled back` };
      });
    } else if (op.settled) {
      await op.settled;
    }
    return { ...opView(op), cancelled: op.cancelled };
  }

  /** Rolls back every operation in flight that touches host `hostId` (or every one, without a host). */
  async abort(error: SimErrorBody, hostId?: string): Promise<void> {
    const touching = [...this.ops.values()].filter(
      (op) => op.phase === 'running' && (hostId === undefined || op.plan.hosts.includes(hostId)),
    );
    await Promise.all(
      touching.map((op) =>
        this.settle(op, () => {
          op.plan.rollback?.(op.id);
          op.error = error;
        }),
      ),
    );
  }

  private opOf(hostId: string, opId: string): Op {
    const op = this.ops.get(opId);
    if (!op || op.host !== hostId) {
      throw new SimFault(404, {
        code: 'unknown_op',
        message: `${hostId} knows no operation ${opId}; if the sim restarted, it was rolled back: check the container's state`,
        transient: true,
      });
    }
    return op;
  }

  /** Ends an operation once: `finish` commits or rolls back; then the state is saved and it is done. */
  private settle(op: Op, finish: () => void): Promise<void> {
    if (op.phase !== 'running') return op.settled ?? Promise.resolve();
    op.phase = 'settling';
    if (op.timer) clearTimeout(op.timer);
    this.running--;
    for (const [h, n] of op.plan.busy) {
      const key = `${h}/${n}`;
      if (this.busy.get(key) === op) this.busy.delete(key);
    }
    for (const r of op.plan.reserve ?? []) reserve(r, -1);
    finish();
    op.settled = this.save([op.host, ...op.plan.hosts]).then(
      () => this.retire(op),
      (err: unknown) => {
        op.error ??= { code: 'internal', message: `could not save the sim state: ${(err as Error).message}`, transient: true };
        this.retire(op);
      },
    );
    return op.settled;
  }

  private complete(op: Op): void {
    if (op.failure) {
      op.plan.rollback?.(op.id);
      op.error = op.failure;
      return;
    }
    try {
      op.result = op.plan.commit(op.id) ?? null;
    } catch (err) {
      op.plan.rollback?.(op.id);
      op.error = err instanceof SimFault ? err.body : { code: 'internal', message: (err as Error).message ?? String(err) };
    }
  }

  private retire(op: Op): void {
    op.phase = 'done';
    // Keep finished operations for late polls, dropping the oldest (Map keeps insertion order).
    if (this.ops.size > FINISHED_KEPT) {
      for (const [id, old] of this.ops) {
        if (this.ops.size <= FINISHED_KEPT) break;
        if (old.phase === 'done') this.ops.delete(id);
      }
    }
  }
}
