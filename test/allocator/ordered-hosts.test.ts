import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hasBit, wordsFor } from '../../src/allocator/bitset';
import { OrderedHosts } from '../../src/allocator/ordered-hosts';

describe('OrderedHosts', () => {
  it('stays sorted by (key, tie), and "at least q" bitsets stay exact, while keys and ties change', () => {
    const scenario = fc.record({
      keys: fc.array(fc.integer({ min: -20, max: 20 }), { minLength: 1, maxLength: 300 }),
      changes: fc.array(fc.record({ host: fc.nat(), key: fc.integer({ min: -20, max: 20 }), tie: fc.nat(5) }), { maxLength: 60 }),
      queries: fc.array(fc.integer({ min: -22, max: 22 }), { minLength: 1, maxLength: 5 }),
    });
    fc.assert(
      fc.property(scenario, ({ keys, changes, queries }) => {
        const n = keys.length;
        const words = wordsFor(n);
        const key = Float64Array.from(keys);
        const tie = Int32Array.from(keys, (_, i) => i);
        const members = Array.from({ length: n }, (_, i) => i);
        const index = new OrderedHosts(members, key, tie, words);
        const check = () => {
          const order = [...index.order];
          assert.deepEqual([...order].sort((a, b) => a - b), members, 'every host exactly once');
          for (let p = 1; p < n; p++) {
            const a = order[p - 1]!;
            const b = order[p]!;
            assert.ok(key[a]! < key[b]! || (key[a] === key[b] && tie[a]! < tie[b]!), `out of order at ${p}`);
          }
          for (const q of queries) {
            const out = new Int32Array(words);
            index.hostsFrom(index.firstAtLeast(key, q), out);
            for (let h = 0; h < n; h++) assert.equal(hasBit(out, h), key[h]! >= q, `host ${h} vs ${q}`);
          }
        };
        check();
        for (const c of changes) {
          const h = c.host % n;
          const oldKey = key[h]!;
          const oldTie = tie[h]!;
          key[h] = c.key;
          // Ties stay distinct: a multiple of n plus the host.
          tie[h] = c.tie * n + h;
          index.update(h, oldKey, oldTie);
          check();
        }
      }),
    );
  });
});
