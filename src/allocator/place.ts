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
  const scored: Scored[] = [];
  for (let position = 0; position < order.length; position++) {
    const index = order[position]!;
    const host = hosts[index]!;
    const reason = firstRejection(checks, host);
    if (reason !== undefined) rejections[reason] = (rejections[reason] ?? 0) + 1;
    else if (scored.length < cap) scored.push({ index, position, score: score(host) });
  }
  return bestOf(hosts, scored, rejections, options.top ?? DEFAULT_TOP);
}

/** Best score first; equal scores in shuffled order. */
export function byScore(a: Scored, b: Scored): number {
  return b.score - a.score || a.position - b.position;
}

export function bestOf(
  hosts: readonly HostSnapshot[],
  scored: Scored[],
  rejections: Record<string, number>,
  top: number,
): Placement {
  scored.sort(byScore);
  const candidates: ScoredCandidate[] = scored.slice(0, Math.max(0, top)).map((s) => {
    const h = hosts[s.index]!;
    return { hostId: h.id, hostName: h.name, score: s.score };
  });
  const best = scored[0];
  return best ? { host: hosts[best.index], rejections, candidates } : { rejections, candidates };
}
