// The seeded candidate shuffle: same seed and same number of hosts, same order.
import { seededRandom } from '../domain/seeded-random';

/** A seeded Fisher–Yates permutation: `order[position]` is the host index visited at that position. */
export function shuffledOrder(n: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const random = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}
