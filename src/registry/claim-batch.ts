// Group commit of capacity claims. The claims a process makes at the same moment (a worker runs
// many placements at once) queue while one claim transaction is in flight; the next transaction
// takes the queue, up to MAX_BATCH claims, in a fixed number of statements whatever its size:
// the claim keys already taken (a retried command gets its placeholder back), the batch's hosts
// locked in id order, their usage in one aggregate, then the placeholders and their keys in two
// multi-row inserts. Each claim is checked in queue order, with the batch's earlier claims on its
// host counted, by the same rule as a single claim, and gets its own outcome: one that does not
// fit is refused alone, naming its host and resource, while the others commit.
import type { EntityManager } from 'typeorm';
import { InvalidInputError, NoCapacityError, NotFoundError } from '../domain/errors';
import { keyOf, ZERO, type NodeRecord, type Resources } from '../domain/types';
import { add, checkClaim, claim, placeholderKeys, placeholderRow, roomRefusal, type HostRow } from './claims';
import { toRecord } from './columns';
import { isUniqueViolation } from './db-errors';
import type { NodeRow } from './entities';
import { insertKeyPairs, insertNodes, loadRecord, marks, withArticle } from './rows';
import { locksRows, type Transactions } from './transactions';
import type { ClaimRequest } from './types';
import { usageByHost } from './usage';

/** Claims per transaction, at most: 15 parameters each in the placeholders' insert. */
export const MAX_BATCH = 32;

type Outcome = { readonly ok: true; readonly record: NodeRecord } | { readonly ok: false; readonly error: unknown };

interface Waiting {
  readonly request: ClaimRequest;
  resolve(record: NodeRecord): void;
  reject(err: unknown): void;
}

/** Sizes of the transactions run so far, for benchmarks and tests. */
export interface ClaimBatchCounts {
  /** Batch transactions committed or failed. */
  readonly batches: number;
  /** Claims they carried. */
  readonly claims: number;
  /** Batches run again one claim per transaction after a unique key collision. */
  readonly fallbacks: number;
}

/** An insert of the batch hit a unique key: a competitor took one of its keys meanwhile. */
class BatchCollision extends Error {
  override readonly name = 'BatchCollision';
}

export class ClaimQueue {
  private readonly waiting: Waiting[] = [];
  private busy = false;
  private batches = 0;
  private claims = 0;
  private fallbacks = 0;

  constructor(
    private readonly db: Transactions,
    private readonly maxBatch = MAX_BATCH,
  ) {}

  get counts(): ClaimBatchCounts {
    return { batches: this.batches, claims: this.claims, fallbacks: this.fallbacks };
  }

  /** Claims capacity for one command; resolves when the transaction that carried it commits. */
  claim(request: ClaimRequest): Promise<NodeRecord> {
    const problems = checkClaim(request);
    if (problems.length) return Promise.reject(new InvalidInputError(problems, 'claim'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      this.next();
    });
  }

  /**
   * Starts the next transaction, from a fresh turn of the event loop: the claims that callers
   * resumed by the same event (the previous batch's outcomes, say) make next join it.
   */
  private next(): void {
    if (this.busy || !this.waiting.length) return;
    this.busy = true;
    setImmediate(() => {
      void this.run(this.take()).finally(() => {
        this.busy = false;
        this.next();
      });
    });
  }

  /**
   * The oldest waiting claims, one per command: a second claim of a command waits for the next
   * batch, where it finds the first one's placeholder, as it would have one after the other.
   */
  private take(): Waiting[] {
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    const commands = new Set<string>();
    for (const w of this.waiting) {
      if (batch.length < this.maxBatch && !commands.has(w.request.commandId)) {
        batch.push(w);
        commands.add(w.request.commandId);
      } else rest.push(w);
    }
    this.waiting.splice(0, this.waiting.length, ...rest);
    return batch;
  }

  private async run(batch: readonly Waiting[]): Promise<void> {
    const requests = batch.map((w) => w.request);
    this.batches++;
    this.claims += batch.length;
    let outcomes: readonly Outcome[];
    try {
      outcomes = await this.db.write((m) => claimBatch(m, requests));
    } catch (err) {
      if (!(err instanceof BatchCollision)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // One collision must not fail the innocent claims: each in its own transaction, where a
      // collision is that claim's alone (a concurrent claim of the same command returns its placeholder).
      this.fallbacks++;
      outcomes = await Promise.all(
        requests.map((r) =>
          claim(this.db, r).then(
            (record): Outcome => ({ ok: true, record }),
            (error: unknown): Outcome => ({ ok: false, error }),
          ),
        ),
      );
    }
    for (const [i, w] of batch.entries()) {
      const o = outcomes[i]!;
      if (o.ok) w.resolve(o.record);
      else w.reject(o.error);
    }
  }
}

/** One transaction's work for a batch of claims of distinct commands, in their order. */
async function claimBatch(m: EntityManager, requests: readonly ClaimRequest[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(requests.length);
  const owners = await claimOwners(m, requests.map((r) => keyOf.claim(r.commandId)));
  const fresh: number[] = [];
  for (const [i, r] of requests.entries()) {
    const owner = owners.get(keyOf.claim(r.commandId));
    if (!owner) fresh.push(i);
    else outcomes[i] = await loadRecord(m, owner).then(
      (record): Outcome => ({ ok: true, record }),
      (error: unknown): Outcome => ({ ok: false, error }),
    );
  }
  if (!fresh.length) return outcomes;
  const hosts = await lockHosts(m, [...new Set(fresh.map((i) => requests[i]!.hostId))].sort());
  const used = await usageByHost(m, [...hosts.values()].filter((h) => h.type === 'hypervisor').map((h) => h.id));
  const now = new Date();
  const rows: NodeRow[] = [];
  const keys: Array<readonly [string, string]> = [];
  for (const i of fresh) {
    const request = requests[i]!;
    const host = hosts.get(request.hostId);
    const refusal = hostRefusal(request, host, host && (used.get(host.id) ?? ZERO));
    if (refusal) {
      outcomes[i] = { ok: false, error: refusal };
      continue;
    }
    used.set(host!.id, add(used.get(host!.id) ?? ZERO, request.resources));
    const row = placeholderRow(request, host!.id, now);
    const rowKeys = placeholderKeys(request);
    rows.push(row);
    for (const key of rowKeys) keys.push([key, row.id]);
    outcomes[i] = { ok: true, record: toRecord(row, rowKeys, {}) };
  }
  if (rows.length) {
    try {
      await insertNodes(m, rows);
      await insertKeyPairs(m, keys);
    } catch (err) {
      if (isUniqueViolation(err)) throw new BatchCollision(`a key of the batch was taken meanwhile: ${(err as Error).message}`);
      throw err;
    }
  }
  return outcomes;
}

/** Why a claim may not go on its host, as a single claim would say it; undefined when it fits. */
function hostRefusal(request: ClaimRequest, host: HostRow | undefined, used: Resources | undefined): Error | undefined {
  if (!host) return new NotFoundError('hypervisor', request.hostId);
  if (host.type !== 'hypervisor')
    return new InvalidInputError([{ field: 'hostId', problem: `names ${withArticle(host.type)}, not a hypervisor` }], 'claim');
  if (host.state !== 'up') return new NoCapacityError(request.containerName, { [host.state]: 1 }, host.id, host.name);
  return roomRefusal(host, used ?? ZERO, request.resources, request.containerName);
}

/** The owner of each claim key that is taken. */
async function claimOwners(m: EntityManager, keys: readonly string[]): Promise<Map<string, string>> {
  const rows: { key: string; nodeId: string }[] = await m.query(
    `SELECT \`key\`, \`node_id\` AS nodeId FROM \`node_keys\` WHERE \`key\` IN (${marks(keys.length)})`,
    [...keys],
  );
  return new Map(rows.map((r) => [r.key, r.nodeId]));
}

/**
 * The hosts, locked for writing in id order (on MySQL; SQLite's transaction already excludes
 * writers), so that two batches sharing hosts never wait on each other crosswise.
 */
async function lockHosts(m: EntityManager, ids: readonly string[]): Promise<Map<string, HostRow>> {
  const rows: HostRow[] = await m.query(
    `SELECT \`id\`, \`type\`, \`name\`, \`definition\`, \`state\` FROM \`nodes\` WHERE \`id\` IN (${marks(ids.length)}) ORDER BY \`id\`${locksRows(m) ? ' FOR UPDATE' : ''}`,
    [...ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}
