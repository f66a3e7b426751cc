// The pure placement pipeline over a snapshot: seeded shuffle, filters, weighers, the best host.
import { firstRejection, prepareChecks } from './filters';
import { shuffledOrder } from './shuffle';
import type { AllocatorOptions, HostSnapshot, Placement, PlacementRequest, ScoredCandidate } from './types';
import { prepareScore, weightsOf } from './weighers';

export const DEFAULT_TOP = 3;

/**
 * Picks the best host for a request. Pure: the same snapshot, request and seed always give the same
 * placement. Every rejected host is counted under the first filter it fails; with `maxCandidates`
 * only that many feasible hosts (in shuffled order) are scored, but every host is still filtered,
 * so the rejection counts are always complete.
 */
export function place(hosts: readonly HostSnapshot[], request: PlacementRequest, options: AllocatorOptions = {}): Placement {
  return placeInOrder(hosts, shuffledOrder(hosts.length, options.seed ?? 0), request, options, {});
}

/** One scored feasible host; `position` is its place in the shuffled order and breaks ties. */
export interface Scored {
  readonly index: number;
  readonly position: number;
  readonly score: number;
}

/**
 * The pipeline over `hosts[order[0]], hosts[order[1]], ...`; `rejections` starts from counts
 * already made (the indexed Allocator passes the hosts a hint rules out).
 */
export function placeInOrder(
  hosts: readonly HostSnapshot[],
  order: ArrayLike<number>,
  request: PlacementRequest,
  options: AllocatorOptions,
  rejections: Record<string, number>,
): Placement {
  const checks = prepareChecks(request);
  const score = prepareScore(request, weightsOf(options));
  const cap = Math.max(1, options.maxCandidates ?? Infinity);
  const top = options.top ?? DEFAULT_TOP;
  const keep = Math.max(1, top);
  const best: Scored[] = [];
  let scored = 0;
  for (let position = 0; position < order.length; position++) {
    const index = order[position]!;
    const host = hosts[index]!;
    const reason = firstRejection(checks, host);
    if (reason !== undefined) rejections[reason] = (rejections[reason] ?? 0) + 1;
    else if (scored < cap) {
      scored++;
      keepBest(best, { index, position, score: score(host) }, keep);
    }
  }
  return bestOf(hosts, best, rejections, top);
}

/** Adds a scored host to `best` (best first) if it is among the `keep` best so far. */
export function keepBest(best: Scored[], s: Scored, keep: number): void {
  let i = best.length;
  while (i > 0 && byScore(s, best[i - 1]!) < 0) i--;
  if (i < keep) {
    best.splice(i, 0, s);
    if (best.length > keep) best.pop();
  }
}

/** The `keep` best of `scored`, best first. */
export function bestScored(scored: readonly Scored[], keep: number): Scored[] {
  const best: Scored[] = [];
  for (const s of scored) keepBest(best, s, Math.max(1, keep));
  return best;
}

/** Best score first; equal scores in shuffled order. */
export function byScore(a: Scored, b: Scored): number {
  return b.score - a.score || a.position - b.position;
}

export function bestOf(
  hosts: readonly HostSnapshot[],
  scored: readonly Scored[],
  rejections: Record<string, number>,
  top: number,
): Placement {
  const best = bestScored(scored, top);
  const candidates: ScoredCandidate[] = best.slice(0, Math.max(0, top)).map((s) => {
    const h = hosts[s.index]!;
    return { hostId: h.id, hostName: h.name, score: s.score };
  });
  return best[0] ? { host: hosts[best[0].index], rejections, candidates } : { rejections, candidates };
}
