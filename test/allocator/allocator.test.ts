import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allocator, explain, noCapacityError, place } from '../../src/allocator';
import type { PlacementRequest } from '../../src/allocator';
import { NotFoundError } from '../../src/domain/errors';
import { host, request, used } from './builders';

const webTier = (env: string, count: number): PlacementRequest[] =>
  Array.from({ length: count }, (_, i) => request(`${env}-web${i + 1}`, { antiAffinity: [`${env}/web`], groups: [env, `${env}/web`] }));

describe('Allocator', () => {
  it('commit adds the resources and groups to the host in its working copy', () => {
    const a = new Allocator([host('a'), host('b')]);
    const r = request('web1', { resources: { cpus: 4, memoryMiB: 1024, diskGiB: 10 }, antiAffinity: ['env:1/web'], affinity: ['env:1'] });
    a.commit('b', r);
    a.commit('b', r);
    const b = a.hosts()[1]!;
    assert.deepEqual(b.used, { cpus: 8, memoryMiB: 2048, diskGiB: 20 });
    assert.deepEqual(b.groups, { 'env:1/web': 2, 'env:1': 2 });
    assert.deepEqual(a.hosts()[0], host('a'));
  });

  it('release takes a request off its host again', () => {
    const a = new Allocator([host('a', { used: used(1, 1, 1), groups: { 'env:9': 1 } })]);
    const r = request('web1', { groups: ['env:1'] });
    a.commit('a', r);
    a.release('a', r);
    assert.deepEqual(a.hosts()[0], host('a', { used: used(1, 1, 1), groups: { 'env:9': 1 } }));
  });

  it('refuses to commit to an unknown host', () => {
    assert.throws(() => new Allocator([host('a')]).commit('nope', request('x')), NotFoundError);
  });

  it('fills one host before opening the next, then explains when all are full', () => {
    const hosts = Array.from({ length: 3 }, (_, i) => host(`h${i}`, { allowance: { cpus: 4, memoryMiB: 4096, diskGiB: 100 } }));
    const a = new Allocator(hosts, { seed: 1 });
    const small = request('c', { resources: { cpus: 1, memoryMiB: 1024, diskGiB: 0 } });
    const chosen: string[] = [];
    for (let i = 0; i < 12; i++) {
      const p = a.place(small);
      chosen.push(p.host!.id);
      a.commit(p.host!.id, small);
    }
    assert.deepEqual(new Set(chosen.slice(0, 4)).size, 1);
    assert.deepEqual(new Set(chosen.slice(4, 8)).size, 1);
    assert.deepEqual(new Set(chosen).size, 3);
    const refused = a.place(small);
    assert.equal(refused.host, undefined);
    assert.equal(explain(refused), '3 hosts full on memory');
    assert.equal(noCapacityError(small, refused).message, 'no capacity for c: 3 hosts full on memory');
  });

  it('decides as place() does over its working copy', () => {
    const hosts = Array.from({ length: 200 }, (_, i) =>
      host(`h${i}`, { state: i % 17 === 0 ? 'down' : 'up', used: used(i % 16, (i * 977) % 65536, i % 3) }),
    );
    const a = new Allocator(hosts, { seed: 5, scoreAllBelow: 0 });
    for (let i = 0; i < 300; i++) {
      const r = request(`c${i}`, { resources: { cpus: 1 + (i % 4), memoryMiB: 1024 * (1 + (i % 7)), diskGiB: i % 50 } });
      const want = place(a.hosts(), r, { seed: 5 });
      assert.deepEqual(a.place(r), want);
      if (want.host) a.commit(want.host.id, r);
    }
  });

  describe('an environment of 5 web containers with anti-affinity', () => {
    it('never lands two on one host', () => {
      const a = new Allocator(Array.from({ length: 8 }, (_, i) => host(`h${i}`)), { seed: 2 });
      const result = a.placeGroup(webTier('env:1', 5));
      assert.ok(result.ok);
      const ids = result.placements.map((p) => p.host!.id);
      assert.equal(new Set(ids).size, 5);
      // Committed: each chosen host now holds the web group once.
      for (const id of ids) assert.equal(a.hosts().find((h) => h.id === id)!.groups['env:1/web'], 1);
    });

    it('with 4 eligible hosts, is refused with the reason and commits nothing', () => {
      const hosts = [
        ...Array.from({ length: 4 }, (_, i) => host(`h${i}`)),
        host('down1', { state: 'down' }),
        host('down2', { state: 'down' }),
      ];
      const a = new Allocator(hosts, { seed: 2 });
      const before = a.hosts();
      const result = a.placeGroup(webTier('env:1', 5));
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.index, 4);
      assert.equal(result.request.name, 'env:1-web5');
      assert.equal(result.explanation, '4 hosts excluded by anti-affinity, 2 down');
      assert.deepEqual(a.hosts(), before);
      // Nothing is left behind to block a later placement.
      assert.ok(a.placeGroup(webTier('env:1', 4)).ok);
    });

    it('keeps the tier apart on request even when the requests carry no group of their own', () => {
      const a = new Allocator(Array.from({ length: 5 }, (_, i) => host(`h${i}`)), { seed: 9 });
      const plain = Array.from({ length: 5 }, (_, i) => request(`web${i}`));
      const result = a.placeGroup(plain, { antiAffinity: 'env:2/web' });
      assert.ok(result.ok);
      assert.equal(result.group, 'env:2/web');
      assert.equal(new Set(result.placements.map((p) => p.host!.id)).size, 5);
      const sixth = a.place(request('web6', { antiAffinity: ['env:2/web'] }));
      assert.deepEqual(sixth.rejections, { 'excluded by anti-affinity': 5 });
    });
  });

  it('placeGroup without anti-affinity packs the group together', () => {
    const a = new Allocator(Array.from({ length: 4 }, (_, i) => host(`h${i}`)), { seed: 4 });
    const result = a.placeGroup(Array.from({ length: 3 }, (_, i) => request(`app${i}`)));
    assert.ok(result.ok);
    assert.equal(new Set(result.placements.map((p) => p.host!.id)).size, 1);
  });
});
