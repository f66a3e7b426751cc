// The allocator and the registry's claim re-check decide "fits" alike at the very boundary: what
// the allocator places, the registry claims, and what one refuses, the other refuses too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Allocator, REASON, type HostSnapshot, type PlacementRequest } from '../../src/allocator';
import { firstRejection, prepareChecks } from '../../src/allocator/filters';
import { RESOURCES, type ResourceName } from '../../src/domain/capacity';
import { NoCapacityError } from '../../src/domain/errors';
import { ZERO, type Overcommit, type Resources } from '../../src/domain/types';
import type { SqlRegistry } from '../../src/registry';
import { describeOnDatabases } from '../support/databases';
import { addContainer, addHost } from './fixtures';

/** The allocator's reason for each resource; the registry must name the short resource the same way. */
const FULL: Record<ResourceName, string> = { memoryMiB: REASON.fullOnMemory, cpus: REASON.fullOnCpu, diskGiB: REASON.fullOnDisk };

const IN_USE: Resources = { cpus: 1, memoryMiB: 1024, diskGiB: 10 };

const HOSTS: readonly { label: string; capacity: Resources; overcommit?: Overcommit; allowance: Resources }[] = [
  { label: 'without overcommit', capacity: { cpus: 8, memoryMiB: 16384, diskGiB: 500 }, allowance: { cpus: 8, memoryMiB: 16384, diskGiB: 500 } },
  // Fractional ratios: 3 × 1.1 is 3.3000000000000003 in floating point.
  {
    label: 'with overcommit',
    capacity: { cpus: 3, memoryMiB: 3000, diskGiB: 70 },
    overcommit: { cpu: 1.1, memory: 1.5, disk: 1.3 },
    allowance: { cpus: 3 * 1.1, memoryMiB: 3000 * 1.5, diskGiB: 70 * 1.3 },
  },
];

type Verdict = { fits: true } | { fits: false; reason: string };

function allocatorVerdicts(host: HostSnapshot, resources: Resources): { filters: Verdict; allocator: Verdict } {
  const request: PlacementRequest = { name: 'probe', resources };
  const rejection = firstRejection(prepareChecks(request), host);
  const placement = new Allocator([host]).place(request);
  const [reason] = Object.keys(placement.rejections);
  return {
    filters: rejection === undefined ? { fits: true } : { fits: false, reason: rejection },
    allocator: placement.host ? { fits: true } : { fits: false, reason: reason ?? 'no reason' },
  };
}

async function registryVerdict(r: SqlRegistry, hostId: string, commandId: string, resources: Resources): Promise<Verdict> {
  try {
    await r.claim({ hostId, commandId, containerName: 'probe', resources, ttlSeconds: 60 });
  } catch (err) {
    if (!(err instanceof NoCapacityError)) throw err;
    const [reason] = Object.keys(err.reasons);
    return { fits: false, reason: reason ?? 'no reason' };
  }
  await r.release(commandId);
  return { fits: true };
}

/** The smallest floating-point number above a positive `x`. */
function nextUp(x: number): number {
  const bits = new BigInt64Array(new Float64Array([x]).buffer);
  bits[0]! += 1n;
  return new Float64Array(bits.buffer)[0]!;
}

function only(resource: ResourceName, amount: number): Resources {
  return { ...ZERO, [resource]: amount };
}

describeOnDatabases('capacity agreement between the allocator and the registry', (db) => {
  for (const shape of HOSTS) {
    test(`a claim that exactly fills a host ${shape.label} is placed and claimed; any more is refused by both`, async () => {
      const r = await db().registry();
      const hv = await addHost(r, 'hv', shape.capacity, shape.overcommit ? { overcommit: shape.overcommit } : {});
      await addContainer(r, 'c1', hv.id, IN_USE);
      const [host] = await r.hostSnapshot();
      assert.deepEqual(host!.allowance, shape.allowance);
      assert.deepEqual(host!.used, IN_USE);

      for (const resource of RESOURCES) {
        const free = shape.allowance[resource] - IN_USE[resource];
        const full = FULL[resource];
        const cases: readonly { amount: number; expected: Verdict }[] = [
          { amount: free, expected: { fits: true } },
          { amount: free + 1, expected: { fits: false, reason: full } },
          // Less than any tolerance would forgive: the boundary is exact on both sides.
          { amount: nextUp(free), expected: { fits: false, reason: full } },
        ];
        for (const [i, { amount, expected }] of cases.entries()) {
          const need = only(resource, amount);
          const what = `${amount} ${resource} on ${free} free`;
          assert.ok(i === 0 || amount > free, `${what}: the probe is above the boundary`);
          assert.deepEqual(allocatorVerdicts(host!, need), { filters: expected, allocator: expected }, `allocator, ${what}`);
          assert.deepEqual(await registryVerdict(r, hv.id, `${resource}-${i}`, need), expected, `registry, ${what}`);
        }
      }
      // Short on everything: both name the same resource, the first one checked.
      const over: Resources = { cpus: shape.allowance.cpus, memoryMiB: shape.allowance.memoryMiB, diskGiB: shape.allowance.diskGiB };
      const first: Verdict = { fits: false, reason: FULL[RESOURCES[0]] };
      assert.deepEqual(allocatorVerdicts(host!, over), { filters: first, allocator: first });
      assert.deepEqual(await registryVerdict(r, hv.id, 'everything', over), first);
      assert.deepEqual(await r.usage(hv.id), IN_USE);
    });
  }
});
