// A set of hosts kept sorted by (key, tie) while their keys change, the building block of the
// Allocator's index. Optionally it also keeps, every BLOCK positions, the bitset of the hosts from
// that position on, so that "every host whose key is at least x" is one copy plus a few bits.
import * as bitset from './bitset';

// Bound once: tsx compiles imported names to getter calls, too slow for the inner loops.
const { setBit } = bitset;

const BLOCK = 64;

export class OrderedHosts {
  /** Host indices, sorted by (key, tie) ascending. */
  readonly order: Int32Array;
  /** Row j (words wide) holds the hosts at positions >= j * BLOCK. */
  private readonly suffixes: Int32Array | undefined;

  constructor(
    members: ArrayLike<number>,
    private readonly key: Float64Array,
    private readonly tie: Int32Array,
    private readonly words = 0,
  ) {
    this.order = Int32Array.from(members).sort((a, b) => (key[a]! < key[b]! ? -1 : key[a]! > key[b]! ? 1 : tie[a]! - tie[b]!));
    if (words > 0) {
      const rows = Math.ceil(this.order.length / BLOCK) + 1;
      const s = new Int32Array(rows * words);
      for (let j = rows - 2; j >= 0; j--) {
        s.copyWithin(j * words, (j + 1) * words, (j + 2) * words);
        const row = s.subarray(j * words, (j + 1) * words);
        const end = Math.min((j + 1) * BLOCK, this.order.length);
        for (let p = j * BLOCK; p < end; p++) setBit(row, this.order[p]!);
      }
      this.suffixes = s;
    }
  }

  get length(): number {
    return this.order.length;
  }

  /** First position whose host satisfies `holds`, which must be false then true along the order. */
  firstWhere(holds: (host: number) => boolean): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (holds(this.order[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** First position whose host h has `values[h] >= q`; `values` must be ascending along the order. */
  firstAtLeast(values: Float64Array, q: number): number {
    const order = this.order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (q <= values[order[mid]!]!) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Writes into `out` the bitset of the hosts at `position` and after. */
  hostsFrom(position: number, out: Int32Array): void {
    const s = this.suffixes;
    // No hosts at all: the bitset has no words.
    if (!s) return;
    const j = Math.ceil(position / BLOCK);
    out.set(s.subarray(j * this.words, (j + 1) * this.words));
    const end = Math.min(j * BLOCK, this.order.length);
    for (let p = position; p < end; p++) setBit(out, this.order[p]!);
  }

  /** Moves host `h` to its place after its key or tie changed from (oldKey, oldTie). */
  update(h: number, oldKey: number, oldTie: number): void {
    const key = this.key;
    const tie = this.tie;
    const newKey = key[h]!;
    const newTie = tie[h]!;
    if (newKey === oldKey && newTie === oldTie) return;
    const order = this.order;
    // Where h is now: the first position not before (oldKey, oldTie); h itself compares equal.
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const o = order[mid]!;
      if (o !== h && (key[o]! < oldKey || (key[o] === oldKey && tie[o]! < oldTie))) lo = mid + 1;
      else hi = mid;
    }
    const from = lo;
    if (order[from] !== h) throw new Error(`ordered hosts lost host ${h}`);
    if (newKey < oldKey || (newKey === oldKey && newTie < oldTie)) {
      // Moves towards the front: shift [to, from) one step back.
      lo = 0;
      hi = from;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const o = order[mid]!;
        if (key[o]! < newKey || (key[o] === newKey && tie[o]! < newTie)) lo = mid + 1;
        else hi = mid;
      }
      const to = lo;
      order.copyWithin(to + 1, to, from);
      order[to] = h;
      if (this.suffixes) {
        // Every block boundary b in (to, from]: h leaves the suffix, the host pushed onto b joins it.
        for (let j = Math.floor(to / BLOCK) + 1; j * BLOCK <= from; j++) {
          this.clearIn(j, h);
          this.setIn(j, order[j * BLOCK]!);
        }
      }
    } else {
      // Moves towards the back: shift (from, to] one step forward.
      lo = from + 1;
      hi = order.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const o = order[mid]!;
        if (key[o]! < newKey || (key[o] === newKey && tie[o]! < newTie)) lo = mid + 1;
        else hi = mid;
      }
      const to = lo - 1;
      order.copyWithin(from, from + 1, to + 1);
      order[to] = h;
      if (this.suffixes) {
        // Every block boundary b in (from, to]: h joins the suffix, the host pulled off b leaves it.
        for (let j = Math.floor(from / BLOCK) + 1; j * BLOCK <= to; j++) {
          this.setIn(j, h);
          this.clearIn(j, order[j * BLOCK - 1]!);
        }
      }
    }
  }

  private setIn(row: number, h: number): void {
    this.suffixes![row * this.words + (h >>> 5)] |= 1 << (h & 31);
  }

  private clearIn(row: number, h: number): void {
    this.suffixes![row * this.words + (h >>> 5)] &= ~(1 << (h & 31));
  }
}
