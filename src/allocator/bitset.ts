// Fixed-size bitsets over host indices, in 32-bit words (Int32Array: bit 31 stays a small integer).

export type Bitset = Int32Array;

export function wordsFor(n: number): number {
  return (n + 31) >>> 5;
}

export function setBit(bits: Bitset, i: number): void {
  bits[i >>> 5] |= 1 << (i & 31);
}

export function clearBit(bits: Bitset, i: number): void {
  bits[i >>> 5] &= ~(1 << (i & 31));
}

export function hasBit(bits: Bitset, i: number): boolean {
  return (bits[i >>> 5]! & (1 << (i & 31))) !== 0;
}

/** Set bits in a 32-bit word (SWAR: no table, no branch). */
export function popcount(word: number): number {
  let x = word - ((word >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Appends the index of every set bit of `bits` (ANDed with `mask` when given) to `out`, in order. */
export function appendBits(bits: Bitset, out: number[], mask?: Bitset): void {
  for (let w = 0; w < bits.length; w++) {
    let word = mask ? bits[w]! & mask[w]! : bits[w]!;
    while (word !== 0) {
      const low = word & -word;
      out.push((w << 5) + 31 - Math.clz32(low));
      word ^= low;
    }
  }
}
