// The workload the concurrent writer processes run, shared by the test that checks the outcome.

export interface WorkerPlan {
  readonly url: string;
  readonly worker: number;
  /** Nodes each worker tries to add; their keys overlap with other workers' on purpose. */
  readonly adds: number;
  /** This worker's node that races all others' for one name (and, win or lose, is not renamed again). */
  readonly contestNodeId: string;
  readonly contestedName: string;
  /** This worker's node that it renames through the targets, in its own order. */
  readonly renameNodeId: string;
  readonly renameTargets: readonly string[];
  /** Claims of one cpu each on a host with only a few cpus left. */
  readonly claimHostId: string;
  readonly claims: number;
  /** Containers provisioned without an address, from this pool. */
  readonly allocations: number;
  readonly ipPool: string;
}

export interface Outcome {
  readonly ok: boolean;
  readonly error?: string;
  readonly message?: string;
  readonly key?: string;
  readonly ownerId?: string;
  readonly reasons?: Record<string, number>;
}

export interface WorkerResult {
  readonly adds: ReadonlyArray<Outcome & { i: number; id: string }>;
  readonly contested: Outcome;
  readonly renames: ReadonlyArray<Outcome & { target: string }>;
  readonly claims: ReadonlyArray<Outcome & { commandId: string }>;
  readonly allocations: ReadonlyArray<Outcome & { name: string; ip?: string; mac?: string }>;
}

export interface AddSpec {
  readonly name: string;
  readonly keys: string[];
}

/** Worker p's item i: some names are shared by all workers, keys a and b overlap across items and workers. */
export function addSpec(p: number, i: number): AddSpec {
  return {
    name: i % 5 === 0 ? `shared-${i}` : `n-${p}-${i}`,
    keys: [`test:a-${i % 100}`, `test:b-${(i + p) % 150}`, `test:own-${p}-${i}`],
  };
}

/** A seeded shuffle, so each worker runs its items in its own reproducible order. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = (seed * 2654435761 + 1) >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
