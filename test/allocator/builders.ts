// Hosts, requests and random snapshots for the allocator tests.
import fc from 'fast-check';
import type { HostSnapshot, PlacementRequest } from '../../src/allocator';
import type { Resources } from '../../src/domain/types';

const EMPTY: Resources = { cpus: 0, memoryMiB: 0, diskGiB: 0 };

/** An up `sim` host with 16 cpus, 64 GiB and 1000 GiB, nothing on it; override what the test is about. */
export function host(id: string, over: Partial<HostSnapshot> = {}): HostSnapshot {
  return {
    id,
    name: `name-of-${id}`,
    state: 'up',
    driver: 'sim',
    labels: {},
    allowance: { cpus: 16, memoryMiB: 65536, diskGiB: 1000 },
    used: EMPTY,
    load: 0,
    groups: {},
    ...over,
  };
}

/** A request for 2 cpus, 4 GiB and 20 GiB; override what the test is about. */
export function request(name: string, over: Partial<PlacementRequest> = {}): PlacementRequest {
  return { name, resources: { cpus: 2, memoryMiB: 4096, diskGiB: 20 }, ...over };
}

/** `used` of a host with that much of each resource taken. */
export function used(cpus: number, memoryMiB: number, diskGiB: number): Resources {
  return { cpus, memoryMiB, diskGiB };
}

/** `arbitrary` in `percent`% of cases, undefined otherwise. */
export const sometimes = <T>(arbitrary: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 100 - percent }, { arbitrary, weight: percent });

// Random snapshots: few shapes, small integer amounts, so that ties, full hosts and every
// rejection reason all happen often.

const GROUPS = ['env:1', 'env:2', 'env:3'] as const;
const ALLOWANCES: readonly Resources[] = [
  { cpus: 8, memoryMiB: 16, diskGiB: 100 },
  { cpus: 16, memoryMiB: 32, diskGiB: 100 },
  { cpus: 32, memoryMiB: 64, diskGiB: 0 },
];

/** `roomy` hosts are half of the time empty and otherwise at most half full. */
export const arbitraryHost = (i: number, roomy = false): fc.Arbitrary<HostSnapshot> =>
  fc
    .record({
      state: fc.constantFrom('up', 'up', 'up', 'up', 'down', 'draining'),
      driver: fc.constantFrom('sim', 'sim', 'sim', 'libvirt'),
      zone: fc.constantFrom('a', 'b', undefined),
      allowance: fc.constantFrom(...ALLOWANCES),
      fill: fc.record({
        cpus: fc.double({ min: 0, max: roomy ? 0.5 : 1, noNaN: true }),
        memory: fc.double({ min: 0, max: roomy ? 0.5 : 1, noNaN: true }),
        disk: fc.double({ min: 0, max: roomy ? 0.5 : 1, noNaN: true }),
      }),
      empty: fc.boolean(),
      load: fc.nat(8),
      groups: fc.subarray([...GROUPS]),
    })
    .map(({ state, driver, zone, allowance, fill, empty, load, groups }): HostSnapshot => {
      const u = empty
        ? EMPTY
        : used(Math.round(allowance.cpus * fill.cpus), Math.round(allowance.memoryMiB * fill.memory), Math.round(allowance.diskGiB * fill.disk));
      const nonEmpty = u.cpus > 0 || u.memoryMiB > 0 || u.diskGiB > 0;
      return {
        id: `h${i}`,
        name: `n${i}`,
        state,
        driver,
        labels: zone ? { zone } : ({} as Record<string, string>),
        allowance,
        used: u,
        load,
        // Only hosts with something on them hold groups, as in a real registry.
        groups: nonEmpty ? Object.fromEntries(groups.map((g) => [g, 1])) : {},
      };
    });

/** 1 to `max` hosts named h0, h1, ... */
export const arbitrarySnapshot = (max = 40, roomy = false): fc.Arbitrary<HostSnapshot[]> =>
  fc.integer({ min: 1, max }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbitraryHost(i, roomy))));

/** A request against a snapshot of `hosts` hosts; `hint` and `exclude` name them. `small` requests fit more often. */
export const arbitraryRequest = (hosts: number, small = false, name = 'c'): fc.Arbitrary<PlacementRequest> =>
  fc
    .record({
      cpus: fc.integer({ min: 1, max: small ? 3 : 10 }),
      memoryMiB: fc.integer({ min: 1, max: small ? 6 : 24 }),
      diskGiB: fc.integer({ min: 0, max: small ? 10 : 40 }),
      driver: sometimes(fc.constantFrom('sim', 'libvirt'), small ? 25 : 50),
      zone: sometimes(fc.constantFrom('a', 'b'), small ? 25 : 50),
      exclude: sometimes(fc.array(fc.nat(hosts - 1), { maxLength: 3 }), 30),
      antiAffinity: sometimes(fc.subarray([...GROUPS], { minLength: 1 }), 30),
      affinity: sometimes(fc.subarray([...GROUPS], { minLength: 1 }), 30),
      hint: sometimes(fc.nat(hosts - 1), 5),
    })
    .map((r) => ({
      name,
      resources: { cpus: r.cpus, memoryMiB: r.memoryMiB, diskGiB: r.diskGiB },
      ...(r.driver ? { driver: r.driver } : {}),
      ...(r.zone ? { requires: { zone: r.zone } } : {}),
      ...(r.exclude ? { exclude: r.exclude.map((i) => `h${i}`) } : {}),
      ...(r.antiAffinity ? { antiAffinity: r.antiAffinity } : {}),
      ...(r.affinity ? { affinity: r.affinity } : {}),
      ...(r.hint !== undefined ? { hint: r.hint % 2 ? `h${r.hint}` : `n${r.hint}` } : {}),
    }));

export const arbitraryWeights = fc.constantFrom<Array<Partial<Record<'binpack' | 'spread' | 'leastLoaded' | 'affinity', number>> | undefined>>(
  undefined,
  { binpack: 1 },
  { binpack: 2, affinity: 1 },
  { spread: 1 },
  { spread: 1, leastLoaded: 0.5 },
  { leastLoaded: 1 },
  { binpack: 1, leastLoaded: 1, affinity: 3 },
);
