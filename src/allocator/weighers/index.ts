// Ranking: each weigher scores a feasible host in [0, 1]; the score is their weighted sum.
import type { AllocatorOptions, HostSnapshot, PlacementRequest, Weigher, WeigherName } from '../types';
import { affinity } from './affinity';
import { binpack } from './binpack';
import { leastLoaded } from './least-loaded';
import { spread } from './spread';

export { affinity, binpack, leastLoaded, spread };

export const WEIGHERS: Readonly<Record<WeigherName, Weigher>> = { binpack, spread, leastLoaded, affinity };

/** Summation order, fixed so that every path computes a host's score with the same operations. */
const WEIGHER_ORDER: readonly WeigherName[] = ['binpack', 'spread', 'leastLoaded', 'affinity'];

export const DEFAULT_WEIGHTS: Readonly<Partial<Record<WeigherName, number>>> = { binpack: 1, affinity: 1 };

/** The multipliers in force: the options' own, in full (a weigher they leave out counts 0), or the defaults. */
export function weightsOf(options: AllocatorOptions): Readonly<Partial<Record<WeigherName, number>>> {
  return options.weighers ?? DEFAULT_WEIGHTS;
}

/** The score of a feasible host for this request. */
export function prepareScore(
  request: PlacementRequest,
  weights: Readonly<Partial<Record<WeigherName, number>>>,
): (host: HostSnapshot) => number {
  const parts: Array<{ weight: number; weigh: (host: HostSnapshot) => number }> = [];
  for (const name of WEIGHER_ORDER) {
    const weight = weights[name];
    if (weight !== undefined && weight !== 0 && Number.isFinite(weight)) {
      parts.push({ weight, weigh: WEIGHERS[name].prepare(request) });
    }
  }
  return (host) => {
    let score = 0;
    for (const p of parts) score += p.weight * p.weigh(host);
    return score;
  };
}
