// Seeded pseudo-random numbers (pure-rand's xoroshiro128+): the same seed gives the same sequence,
// so any shuffle, retry pick or injected failure can be replayed. Pure: workflow code may import it.
import prand from 'pure-rand';

/** A generator's state as plain numbers: it survives JSON and resumes where it was. */
export type RandomState = readonly number[];

/** Outputs dropped after seeding, so the first draws do not echo the seed. */
const WARM_UP = 8;

/**
 * xoroshiro128+ seeded with a bare integer starts from a state that is mostly the seed itself:
 * seeds 1 and 2 would draw nearly the same numbers. Murmur3's finalizer spreads the seed first.
 */
function scramble(seed: number): number {
  let h = seed | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function seeded(seed: number): prand.RandomGenerator {
  const rng = prand.xoroshiro128plus(scramble(seed));
  prand.unsafeSkipN(rng, WARM_UP);
  return rng;
}

/** The next float in [0, 1) of `rng`, which it advances. */
function nextFloat(rng: prand.RandomGenerator): number {
  return (rng.unsafeNext() >>> 0) / 0x1_0000_0000;
}

/** A generator of floats in [0, 1) seeded with `seed` (an integer; its low 32 bits count). */
export function seededRandom(seed: number): () => number {
  const rng = seeded(seed);
  return () => nextFloat(rng);
}

/** The state of a generator seeded with `seed`, for `drawFloat`. */
export function seededState(seed: number): RandomState {
  return seeded(seed).getState();
}

/** Draws a float in [0, 1) from a saved state: the float and the state to draw the next one from. */
export function drawFloat(state: RandomState): { readonly value: number; readonly next: RandomState } {
  const rng = prand.xoroshiro128plus.fromState(state);
  const value = nextFloat(rng);
  return { value, next: rng.getState() };
}
