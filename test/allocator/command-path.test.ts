// Placement as commands make it — the worker's Placer over its working copy, claiming through the
// registry — held against the pure pipeline over the same snapshot: place() in the copy's order,
// then the command's seed drawing among the equally best (firstChoice). Same host for the same
// seed and snapshot, placement after placement; refused exactly when place() finds none.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { place, type HostSnapshot, type PlacementRequest } from '../../src/allocator';
import { firstChoice, Placer, seedOf, type PlacementRegistry } from '../../src/allocator/placer';
import { withClaim } from '../../src/allocator/working-copy';
import { RESOURCE_WORDS, shortResource } from '../../src/domain/capacity';
import { NoCapacityError, NotFoundError } from '../../src/domain/errors';
import type { NodeRecord } from '../../src/domain/types';
import type { ClaimRequest } from '../../src/registry/types';
import { arbitraryRequest, arbitrarySnapshot } from './builders';

/** The registry's side in memory: a claim re-checks state and capacity with the one capacity rule, as the real claim does. */
class MemoryRegistry implements PlacementRegistry {
  hosts: HostSnapshot[];
  constructor(hosts: readonly HostSnapshot[]) {
    this.hosts = [...hosts];
  }

  async hostSnapshot(hostIds?: readonly string[]): Promise<HostSnapshot[]> {
    return this.hosts.filter((h) => !hostIds || hostIds.includes(h.id)).map((h) => ({ ...h }));
  }

  async claim(c: ClaimRequest): Promise<NodeRecord> {
    const i = this.hosts.findIndex((h) => h.id === c.hostId);
    if (i < 0) throw new NotFoundError('hypervisor', c.hostId);
    const h = this.hosts[i]!;
    if (h.state !== 'up') throw new NoCapacityError(c.containerName, { [h.state]: 1 }, h.id);
    const short = shortResource(h.allowance, h.used, c.resources);
    if (short) throw new NoCapacityError(c.containerName, { [`full on ${RESOURCE_WORDS[short]}`]: 1 }, h.id);
    this.hosts[i] = withClaim(h, { name: c.containerName, resources: c.resources, groups: c.groups });
    return { id: `p-${c.commandId}`, type: 'placeholder', name: `placeholder-${c.commandId}`, definition: {}, state: 'held', metadata: {}, tags: {}, parentId: h.id, keys: [], version: 1, createdAt: '', updatedAt: '' };
  }
}

const base = (commandId: string) => ({ commandId, containerName: commandId, ttlSeconds: 60 });

/** The placed host, or undefined when refused with NoCapacityError. */
async function placedBy(placer: Placer, r: PlacementRequest, commandId: string, seed?: number): Promise<string | undefined> {
  try {
    return (await placer.placeAndClaim(r, base(commandId), seed)).placeholder.parentId!;
  } catch (err) {
    if (err instanceof NoCapacityError) return undefined;
    throw err;
  }
}

const scenario = (roomy: boolean) =>
  arbitrarySnapshot(30, roomy).chain((hosts) =>
    fc.record({ hosts: fc.constant(hosts), requests: fc.array(arbitraryRequest(hosts.length, roomy), { minLength: 1, maxLength: 8 }), seed: fc.nat(), id: fc.string({ minLength: 1, maxLength: 12 }) }),
  );

describe('placement through the command path against place()', () => {
  it('claims the host the pure pipeline chooses for the command seed over the same snapshot, and refuses exactly when place() finds none', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(false), async ({ hosts, requests: [r], id }) => {
        const placer = new Placer(new MemoryRegistry(hosts));
        const want = firstChoice(hosts, r!, seedOf(id), { seed: placer.seed });
        assert.equal(want === undefined, place(hosts, r!).host === undefined);
        assert.equal(await placedBy(placer, r!, id), want);
      }),
      { numRuns: 150 },
    );
  });

  it('with spread 1, takes the host place() takes over the same snapshot, whatever the seed', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(false), async ({ hosts, requests: [r], seed }) => {
        assert.equal(await placedBy(new Placer(new MemoryRegistry(hosts), { spread: 1, seed: 0 }), r!, 'cmd', seed), place(hosts, r!).host?.id);
      }),
      { numRuns: 100 },
    );
  });

  it('placement after placement on one working copy, each seeded by its command: the same hosts as place() over the registry as it becomes', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(true), async ({ hosts, requests, id }) => {
        const registry = new MemoryRegistry(hosts);
        const placer = new Placer(registry);
        let snapshot = hosts;
        for (const [k, r] of requests.entries()) {
          const commandId = `${id}-${k}`;
          const want = firstChoice(snapshot, r, seedOf(commandId), { seed: placer.seed });
          const got = await placedBy(placer, r, commandId);
          assert.equal(got, want, `request ${k}`);
          if (want) snapshot = snapshot.map((h) => (h.id === want ? withClaim(h, r) : h));
        }
        assert.deepEqual(registry.hosts, snapshot);
      }),
      { numRuns: 150 },
    );
  });

  it('seeded by the command id, chooses among the candidates place() scores best, the same one every time', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(true), async ({ hosts, requests: [r], id }) => {
        const seed = seedOf(id);
        const best = place(hosts, r!, { seed, top: 50 });
        const placerSeed = seed ^ 0x5bd1e995;
        const got = await placedBy(new Placer(new MemoryRegistry(hosts), { seed: placerSeed }), r!, id);
        if (!best.host) return assert.equal(got, undefined);
        const top = best.candidates[0]!.score;
        const equallyBest = best.candidates.filter((c) => c.score === top).map((c) => c.hostId);
        assert.ok(got !== undefined && equallyBest.includes(got), `${got} is not among ${equallyBest.join(', ')}`);
        assert.equal(await placedBy(new Placer(new MemoryRegistry(hosts), { seed: placerSeed }), r!, id), got, 'the same Placer seed and command drew another host');
      }),
      { numRuns: 150 },
    );
  });
});
