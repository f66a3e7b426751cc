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

const BITS_IN = new Uint8Array(1 << 16);
for (let i = 1; i < BITS_IN.length; i++) BITS_IN[i] = (i & 1) + BITS_IN[i >>> 1]!;

export function popcount(word: number): number {
  return BITS_IN[word & 0xffff]! + BITS_IN[(word >>> 16) & 0xffff]!;
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
