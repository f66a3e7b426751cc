// One of several OS processes placing containers on one registry at the same moment, and the
// harness that starts them (used by concurrent-placers.test.ts and by bench/allocator.ts).
//
// The child reads a PlacerPlan as the first line of stdin, opens its own registry, prints
// `ready`, waits for `go` on stdin, places its requests one after the other in each of its lanes
// (one lane unless asked: each placement through the process's `Placer`, the path commands take,
// or through the old snapshot-per-placement path kept in bench/ as the baseline), prints `placed`,
// waits for `read` (sent once every process has placed), reads its working copy again and prints
// a PlacerResult as one JSON line.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { snapshotPlaceAndClaim } from '../../bench/snapshot-placement';
import { Placer, type PlacementRequest, type PlacementRegistry, type SkippedHost } from '../../src/allocator';
import { NoCapacityError } from '../../src/domain/errors';
import { openRegistry } from '../../src/registry';
import type { ClaimRequest, HostSnapshot, Registry } from '../../src/registry/types';

/** `placer`: the process's Placer, as commands place. `snapshot`: the baseline, a hostSnapshot() per placement. */
export type PlacerMode = 'snapshot' | 'placer';

export interface PlannedPlacement {
  readonly commandId: string;
  readonly request: PlacementRequest;
}

export interface PlacerPlan {
  readonly url: string;
  readonly worker: number;
  readonly mode: PlacerMode;
  /** Snapshot mode: the seed of every placement (placer mode seeds each from its command id). */
  readonly seed: number;
  readonly maxAttempts?: number;
  /** Placements in flight at once in this process, each lane one after the other. Default 1. */
  readonly lanes?: number;
  readonly ttlSeconds: number;
  readonly placements: readonly PlannedPlacement[];
}

export type PlacementOutcome =
  | {
      readonly commandId: string;
      readonly ok: true;
      readonly hostId: string;
      readonly placeholderId: string;
      readonly attempts: number;
      readonly skipped: readonly SkippedHost[];
    }
  | {
      readonly commandId: string;
      readonly ok: false;
      readonly error: string;
      readonly reasons?: Readonly<Record<string, number>>;
      readonly message: string;
    };

/** Where one process spent its time, in ms, and how often. */
export interface PlacerTimings {
  /** Full reads of every host. */
  readonly snapshots: number;
  readonly snapshotMs: number;
  /** Reads of single hosts (after a refused claim). */
  readonly hostReads: number;
  readonly claims: number;
  readonly claimMs: number;
  readonly lostRaces: number;
  /** Transactions that carried the claims (several claims share one when they are made at the same moment). */
  readonly claimTransactions: number;
  /** Snapshots that answered the reads of some hosts (reads asked for at the same moment share one). */
  readonly hostReadQueries: number;
  /** From `go` to the last placement. */
  readonly totalMs: number;
  /** CPU time of the process over the same span (user + system). */
  readonly cpuMs: number;
}

/** One host in a process's working copy: what it counts as used, and in which groups. */
export interface CopiedHost {
  readonly id: string;
  readonly used: HostSnapshot['used'];
  readonly groups: HostSnapshot['groups'];
}

export interface PlacerResult {
  readonly worker: number;
  readonly outcomes: readonly PlacementOutcome[];
  readonly timings: PlacerTimings;
  /** Placer mode: the process's working copy when its placements were done, then after reading every host again into it. */
  readonly copy?: { readonly atEnd: readonly CopiedHost[]; readonly readAgain: readonly CopiedHost[] };
}

const copied = (hosts: readonly HostSnapshot[] | undefined): CopiedHost[] => (hosts ?? []).map(({ id, used, groups }) => ({ id, used, groups }));

const SCRIPT = __filename;
const ROOT = path.resolve(__dirname, '../..');

/**
 * Starts one process per plan, lets them all go at once when every one has its registry open, and
 * collects their results; `wallMs` runs from `go` to the last exit.
 */
export async function runPlacers(plans: readonly PlacerPlan[]): Promise<{ results: PlacerResult[]; wallMs: number }> {
  const children = plans.map((plan) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // 'close', not 'exit': the result line may still be in the pipe when the process exits.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const printed = (line: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => stdout.split('\n').includes(line) && resolve();
        child.stdout.on('data', check);
        void exited.then((code) => reject(new Error(`placer ${plan.worker} exited (${code}) before it printed ${line}:\n${stderr}`)));
      });
    const ready = printed('ready');
    const placed = printed('placed');
    placed.catch(() => undefined);
    const done = exited.then((code) => {
      if (code !== 0) throw new Error(`placer ${plan.worker} failed (${code}):\n${stderr}`);
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        return JSON.parse(last) as PlacerResult;
      } catch {
        throw new Error(`placer ${plan.worker} printed no result (${last.length} characters: ${last.slice(0, 200)}...):\n${stderr}`);
      }
    });
    ready.catch(() => undefined);
    done.catch(() => undefined);
    child.stdin.write(`${JSON.stringify(plan)}\n`);
    return { child, ready, placed, done };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
    const started = performance.now();
    for (const c of children) c.child.stdin.write('go\n');
    await Promise.all(children.map((c) => c.placed));
    const wallMs = performance.now() - started;
    // Every process has placed: each reads its working copy again now that nothing changes.
    for (const c of children) c.child.stdin.end('read\n');
    const results = await Promise.all(children.map((c) => c.done));
    return { results, wallMs };
  } finally {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  }
}

type PlaceBase = Omit<ClaimRequest, 'hostId' | 'resources'>;

/** The registry calls placement makes, timed. */
class TimedRegistry implements PlacementRegistry {
  snapshots = 0;
  snapshotMs = 0;
  hostReads = 0;
  claims = 0;
  claimMs = 0;
  lostRaces = 0;
  constructor(private readonly registry: Pick<Registry, 'hostSnapshot' | 'claim'>) {}

  async hostSnapshot(hostIds?: readonly string[]): Promise<HostSnapshot[]> {
    const t = performance.now();
    try {
      return await this.registry.hostSnapshot(hostIds);
    } finally {
      if (hostIds) this.hostReads++;
      else this.snapshots++;
      this.snapshotMs += performance.now() - t;
    }
  }

  async claim(request: ClaimRequest) {
    const t = performance.now();
    try {
      return await this.registry.claim(request);
    } catch (err) {
      if (err instanceof NoCapacityError) this.lostRaces++;
      throw err;
    } finally {
      this.claims++;
      this.claimMs += performance.now() - t;
    }
  }
}

async function child(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  lines.on('line', (l) => {
    queue.push(l);
    wake?.();
  });
  const nextLine = async (): Promise<string> => {
    while (!queue.length) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift()!;
  };

  const plan = JSON.parse(await nextLine()) as PlacerPlan;
  const lanes = Math.max(1, plan.lanes ?? 1);
  const registry = await openRegistry({ url: plan.url, migrate: false, poolSize: lanes + 1 });
  const timed = new TimedRegistry(registry);
  const attempts = plan.maxAttempts !== undefined ? { maxAttempts: plan.maxAttempts } : {};
  // One Placer for the process, as a worker has one for all its activities.
  const placer = new Placer(timed, attempts);
  const place =
    plan.mode === 'snapshot'
      ? (request: PlacementRequest, base: PlaceBase) => snapshotPlaceAndClaim(timed, request, base, { seed: plan.seed, ...attempts })
      : (request: PlacementRequest, base: PlaceBase) => placer.placeAndClaim(request, base);
  process.stdout.write('ready\n');
  while ((await nextLine()).trim() !== 'go');

  const outcomes: PlacementOutcome[] = [];
  const batchesBefore = registry.claimBatches.batches;
  const readsBefore = registry.hostReadBatches.reads;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const runLane = async (lane: number) => {
    for (let i = lane; i < plan.placements.length; i += lanes) {
      const { commandId, request } = plan.placements[i]!;
      const base = { commandId, containerName: request.name, ttlSeconds: plan.ttlSeconds };
      try {
        const r = await place(request, base);
        outcomes.push({ commandId, ok: true, hostId: r.placeholder.parentId!, placeholderId: r.placeholder.id, attempts: r.attempts, skipped: r.skipped });
      } catch (err) {
        const e = err as Error;
        outcomes.push({
          commandId,
          ok: false,
          error: e?.name ?? 'Error',
          ...(err instanceof NoCapacityError ? { reasons: { ...err.reasons } } : {}),
          message: err instanceof NoCapacityError ? e.message : String(e?.stack ?? e),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, (_, lane) => runLane(lane)));
  const cpu = process.cpuUsage(cpuStarted);
  const timings: PlacerTimings = {
    snapshots: timed.snapshots,
    snapshotMs: timed.snapshotMs,
    hostReads: timed.hostReads,
    claims: timed.claims,
    claimMs: timed.claimMs,
    lostRaces: timed.lostRaces,
    claimTransactions: registry.claimBatches.batches - batchesBefore,
    hostReadQueries: registry.hostReadBatches.reads - readsBefore,
    totalMs: performance.now() - started,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
  process.stdout.write('placed\n');
  while ((await nextLine()).trim() !== 'read');
  lines.close();
  let copy: PlacerResult['copy'];
  if (plan.mode === 'placer') {
    const atEnd = copied(placer.workingCopy());
    await placer.readAgain(atEnd.map((h) => h.id));
    copy = { atEnd, readAgain: copied(placer.workingCopy()) };
  }
  const result: PlacerResult = { worker: plan.worker, outcomes, timings, ...(copy ? { copy } : {}) };
  await registry.close();
  // Written in full before process.exit(): stdout is an asynchronous pipe.
  await new Promise<void>((resolve, reject) => process.stdout.write(`${JSON.stringify(result)}\n`, (err) => (err ? reject(err) : resolve())));
}

if (require.main === module) {
  child().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
