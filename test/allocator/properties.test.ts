// Properties over random snapshots: every decision is feasible, bin-pack does not open hosts it
// does not need, decisions are reproducible, and the indexed Allocator decides as place() does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Allocator, place, seededRandom } from '../../src/allocator';
import type { HostSnapshot, Placement, PlacementRequest } from '../../src/allocator';
import { isEmpty } from '../../src/allocator/capacity';
import { firstRejection, prepareChecks } from '../../src/allocator/filters';
import { arbitraryRequest, arbitrarySnapshot, arbitraryWeights, sometimes } from './builders';

const passesEveryFilter = (h: HostSnapshot, r: PlacementRequest) => firstRejection(prepareChecks(r), h) === undefined;

const withinCapacity = (h: HostSnapshot, r: PlacementRequest) =>
  h.used.cpus + r.resources.cpus <= h.allowance.cpus &&
  h.used.memoryMiB + r.resources.memoryMiB <= h.allowance.memoryMiB &&
  h.used.diskGiB + r.resources.diskGiB <= h.allowance.diskGiB;

/** A snapshot with a few requests to place against it; `roomy` ones leave many hosts feasible. */
const scenario = (maxHosts: number, steps: number, roomy = false) =>
  arbitrarySnapshot(maxHosts, roomy).chain((hosts) =>
    fc.record({
      hosts: fc.constant(hosts),
      requests: fc.array(arbitraryRequest(hosts.length, roomy), { minLength: 1, maxLength: steps }),
      seed: fc.nat(),
      weighers: arbitraryWeights,
      maxCandidates: sometimes(fc.integer({ min: 1, max: 5 }), 15),
      top: sometimes(fc.integer({ min: 0, max: 6 }), 50),
    }),
  );

const total = (rejections: Placement['rejections']) => Object.values(rejections).reduce((a, b) => a + b, 0);

describe('placement properties', () => {
  it('a chosen host passes every filter and has room for the request', () => {
    fc.assert(
      fc.property(scenario(40, 1), ({ hosts, requests: [r], seed, weighers, maxCandidates }) => {
        const p = place(hosts, r!, { seed, weighers, maxCandidates });
        if (p.host) {
          assert.ok(passesEveryFilter(p.host, r!));
          assert.ok(withinCapacity(p.host, r!));
        }
      }),
    );
  });

  it('a host is refused only when none passes every filter', () => {
    fc.assert(
      fc.property(scenario(40, 1), ({ hosts, requests: [r], seed, weighers }) => {
        const p = place(hosts, r!, { seed, weighers });
        assert.equal(p.host === undefined, !hosts.some((h) => passesEveryFilter(h, r!)));
      }),
    );
  });

  it('every host is either rejected under one reason or a candidate', () => {
    fc.assert(
      fc.property(scenario(40, 1), ({ hosts, requests: [r], seed, weighers }) => {
        const p = place(hosts, r!, { seed, weighers, top: hosts.length });
        assert.equal(total(p.rejections) + p.candidates.length, hosts.length);
      }),
    );
  });

  it('bin-pack never opens an empty host while a used one fits', () => {
    fc.assert(
      fc.property(scenario(40, 1), fc.constantFrom(undefined, { binpack: 1 }, { binpack: 3, affinity: 1 }), ({ hosts, requests: [r], seed }, weighers) => {
        const p = place(hosts, r!, { seed, weighers });
        if (p.host && isEmpty(p.host)) {
          assert.ok(!hosts.some((h) => !isEmpty(h) && passesEveryFilter(h, r!)), 'an empty host was opened while a used one fits');
        }
      }),
    );
  });

  it('the same seed and snapshot give the same decision', () => {
    fc.assert(
      fc.property(scenario(40, 1), ({ hosts, requests: [r], seed, weighers, maxCandidates, top }) => {
        const options = { seed, weighers, maxCandidates, top };
        assert.deepEqual(place(hosts, r!, options), place(structuredClone(hosts), r!, options));
      }),
    );
  });
});

describe('indexed Allocator properties', () => {
  it('decides exactly as place() over its working copy, commit after commit: same host, same rejections, same candidates', () => {
    fc.assert(
      fc.property(fc.boolean().chain((roomy) => scenario(80, 30, roomy)), fc.constantFrom(0, 3, undefined), ({ hosts, requests, seed, weighers, maxCandidates, top }, scoreAllBelow) => {
        // A low scoreAllBelow makes the allocator walk its orders even on small clusters.
        const a = new Allocator(hosts, { seed, weighers, maxCandidates, top, scoreAllBelow });
        for (const r of requests) {
          const want = place(a.hosts(), r, { seed, weighers, maxCandidates, top });
          const got = a.place(r);
          assert.deepEqual(got.rejections, want.rejections);
          assert.equal(got.host?.id, want.host?.id);
          assert.deepEqual(got, want);
          if (got.host) a.commit(got.host.id, r);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('decides exactly as place() on a large cluster of few shapes, filled by long runs of small requests', () => {
    const cluster = fc.record({
      size: fc.integer({ min: 60, max: 250 }),
      shapes: fc.integer({ min: 1, max: 3 }),
      seed: fc.nat(),
      steps: fc.integer({ min: 50, max: 250 }),
      top: fc.constantFrom(0, 1, 3, 5),
      weighers: fc.constantFrom(undefined, { binpack: 1 }, { binpack: 1, affinity: 4 }),
      scoreAllBelow: fc.constantFrom(0, 4, undefined),
    });
    fc.assert(
      fc.property(cluster, ({ size, shapes, seed, steps, top, weighers, scoreAllBelow }) => {
        const random = seededRandom(seed);
        const int = (n: number) => Math.floor(random() * n);
        const hosts: HostSnapshot[] = Array.from({ length: size }, (_, i) => {
          const s = i % shapes;
          return {
            id: `h${i}`,
            name: `n${i}`,
            state: int(20) === 0 ? 'down' : 'up',
            driver: 'sim',
            labels: { zone: s === 2 ? 'b' : 'a' },
            allowance: { cpus: 16 << s, memoryMiB: 32 << s, diskGiB: 100 },
            used: { cpus: 0, memoryMiB: 0, diskGiB: 0 },
            load: 0,
            groups: {},
          };
        });
        const a = new Allocator(hosts, { seed, top, weighers, scoreAllBelow });
        for (let i = 0; i < steps; i++) {
          const env = `env:${int(10)}`;
          const r: PlacementRequest = {
            name: `c${i}`,
            resources: { cpus: 1 + int(4), memoryMiB: 1 + int(8), diskGiB: int(6) },
            ...(int(5) === 0 ? { antiAffinity: [env] } : {}),
            ...(int(5) === 0 ? { affinity: [env] } : {}),
            ...(int(10) === 0 ? { requires: { zone: 'b' } } : {}),
            ...(int(10) === 0 ? { exclude: [`h${int(size)}`] } : {}),
            groups: [env],
          };
          const want = place(a.hosts(), r, { seed, top, weighers });
          assert.deepEqual(a.place(r), want);
          if (want.host) a.commit(want.host.id, r);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('no sequence of decisions takes a host beyond its allowance', () => {
    fc.assert(
      fc.property(scenario(40, 40), ({ hosts, requests, seed, weighers }) => {
        const a = new Allocator(hosts, { seed, weighers });
        for (const r of requests) {
          const p = a.place(r);
          if (p.host) a.commit(p.host.id, r);
        }
        for (const h of a.hosts()) {
          for (const k of ['cpus', 'memoryMiB', 'diskGiB'] as const) assert.ok(h.used[k] <= h.allowance[k], `${h.id} over on ${k}`);
        }
      }),
    );
  });

  it('two allocators built alike make the same decisions', () => {
    fc.assert(
      fc.property(scenario(40, 15), ({ hosts, requests, seed }) => {
        const run = () => {
          const a = new Allocator(hosts, { seed });
          return requests.map((r) => {
            const p = a.place(r);
            if (p.host) a.commit(p.host.id, r);
            return p.host?.id;
          });
        };
        assert.deepEqual(run(), run());
      }),
    );
  });

  it('placeGroup commits all of a group or nothing', () => {
    fc.assert(
      fc.property(scenario(12, 6), fc.boolean(), ({ hosts, requests, seed }, apart) => {
        const a = new Allocator(hosts, { seed });
        const before = a.hosts();
        const result = a.placeGroup(requests, { antiAffinity: apart });
        if (!result.ok) {
          assert.deepEqual(a.hosts(), before);
          assert.equal(result.placement.host, undefined);
          return;
        }
        assert.equal(result.placements.length, requests.length);
        if (apart) assert.equal(new Set(result.placements.map((p) => p.host!.id)).size, requests.length);
        const placed = requests.reduce((n, r) => n + r.resources.cpus, 0);
        const sum = (hs: HostSnapshot[]) => hs.reduce((n, h) => n + h.used.cpus, 0);
        assert.equal(sum(a.hosts()) - sum(before), placed);
      }),
    );
  });
});
