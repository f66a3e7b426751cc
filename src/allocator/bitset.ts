// Fixed-size bitsets over host indices, in 32-bit words.

export function wordsFor(n: number): number {
  return (n + 31) >>> 5;
}

export function setBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] |= 1 << (i & 31);
}

export function clearBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] &= ~(1 << (i & 31));
}

export function hasBit(bits: Uint32Array, i: number): boolean {
  return (bits[i >>> 5]! & (1 << (i & 31))) !== 0;
}

const BITS_IN = new Uint8Array(1 << 16);
for (let i = 1; i < BITS_IN.length; i++) BITS_IN[i] = (i & 1) + BITS_IN[i >>> 1]!;

export function popcount(word: number): number {
  return BITS_IN[word & 0xffff]! + BITS_IN[word >>> 16]!;
}

/** Calls `visit` for every set bit, in increasing order. */
export function forEachBit(bits: Uint32Array, visit: (i: number) => void): void {
  for (let w = 0; w < bits.length; w++) {
    let word = bits[w]!;
    while (word !== 0) {
      const low = word & -word;
      visit((w << 5) + 31 - Math.clz32(low));
      word ^= low;
    }
  }
}
