import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { affinity, binpack, leastLoaded, prepareScore, spread } from '../../src/allocator/weighers';
import { host, request, used } from './builders';

const need = request('c', { resources: { cpus: 2, memoryMiB: 8192, diskGiB: 100 } });
// 16 cpus, 64 GiB, 1000 GiB: the request is 1/8 of cpus and memory and 1/10 of disk.
const empty = host('empty');
const half = host('half', { used: used(8, 16384, 0) });
const nearlyFull = host('full', { used: used(12, 49152, 100) });

describe('weighers', () => {
  describe('binpack', () => {
    const weigh = binpack.prepare(need);
    it('prefers the fullest host by its dominant resource after placement', () => {
      // half: cpu 10/16 = 0.625 dominates memory 24/64; nearlyFull: memory 56/64 = 0.875.
      assert.equal(weigh(half), 0.5 + 0.625 / 2);
      assert.equal(weigh(nearlyFull), 0.5 + 0.875 / 2);
      assert.ok(weigh(nearlyFull) > weigh(half));
    });
    it('ranks any used host above an empty one, even an empty host the request fills more', () => {
      const smallEmpty = host('small', { allowance: { cpus: 2, memoryMiB: 8192, diskGiB: 100 } });
      const bigBarelyUsed = host('big', { allowance: { cpus: 256, memoryMiB: 1 << 20, diskGiB: 10000 }, used: used(1, 1, 1) });
      assert.equal(weigh(smallEmpty), 0.5);
      assert.ok(weigh(bigBarelyUsed) > weigh(smallEmpty));
    });
    it('scores within [0, 1]', () => {
      for (const h of [empty, half, nearlyFull]) assert.ok(weigh(h) >= 0 && weigh(h) <= 1);
    });
  });

  describe('spread', () => {
    it('prefers the emptiest host: one minus the dominant share after placement', () => {
      const weigh = spread.prepare(need);
      assert.equal(weigh(empty), 1 - 0.125);
      assert.equal(weigh(half), 1 - 0.625);
      assert.ok(weigh(empty) > weigh(half) && weigh(half) > weigh(nearlyFull));
    });
  });

  describe('leastLoaded', () => {
    it('prefers the lowest reported load; unknown load (0) scores best', () => {
      const weigh = leastLoaded.prepare(need);
      assert.equal(weigh(host('a', { load: 0 })), 1);
      assert.equal(weigh(host('a', { load: 3 })), 0.25);
      assert.ok(weigh(host('a', { load: 0.5 })) > weigh(host('a', { load: 2 })));
    });
  });

  describe('affinity', () => {
    it('scores the share of the affinity groups the host holds', () => {
      const weigh = affinity.prepare(request('c', { affinity: ['env:1', 'env:2'] }));
      assert.equal(weigh(host('a', { groups: { 'env:1': 3, 'env:2': 1 } })), 1);
      assert.equal(weigh(host('a', { groups: { 'env:2': 1, 'env:3': 1 } })), 0.5);
      assert.equal(weigh(host('a', { groups: { 'env:1': 0 } })), 0);
    });
    it('scores 0 everywhere without affinity groups', () => {
      assert.equal(affinity.prepare(need)(host('a', { groups: { 'env:1': 1 } })), 0);
    });
  });

  describe('the weighted score', () => {
    it('is the sum of each weigher times its multiplier; weighers left out count nothing', () => {
      const r = request('c', { resources: need.resources, affinity: ['env:1'] });
      const h = host('h', { used: used(8, 16384, 0), load: 1, groups: { 'env:1': 1 } });
      const score = prepareScore(r, { binpack: 2, leastLoaded: 0.5 });
      assert.equal(score(h), 2 * binpack.prepare(r)(h) + 0.5 * 0.5);
      assert.equal(prepareScore(r, { binpack: 1, affinity: 1 })(h), binpack.prepare(r)(h) + 1);
    });
  });
});
