import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostSnapshot } from '../../src/allocator';
import { Placer } from '../../src/allocator/placer';
import { NoCapacityError, NotFoundError } from '../../src/domain/errors';
import type { NodeRecord } from '../../src/domain/types';
import type { ClaimRequest, Registry } from '../../src/registry/types';
import { host, request, used } from './builders';

/**
 * The two registry calls a Placer makes, in memory. `claim` re-checks capacity as the real one
 * does; `beforeClaim` lets a test change the registry behind the placer's back, as another
 * process would.
 */
class FakeRegistry implements Pick<Registry, 'hostSnapshot' | 'claim'> {
  snapshots = 0;
  readonly attempts: string[] = [];
  beforeClaim: (hostId: string) => void = () => {};
  constructor(public hosts: HostSnapshot[]) {}

  async hostSnapshot(): Promise<HostSnapshot[]> {
    this.snapshots++;
    return this.hosts.map((h) => ({ ...h }));
  }

  async claim(c: ClaimRequest): Promise<NodeRecord> {
    this.attempts.push(c.hostId);
    this.beforeClaim(c.hostId);
    const i = this.hosts.findIndex((h) => h.id === c.hostId);
    if (i < 0) throw new NotFoundError('hypervisor', c.hostId);
    const h = this.hosts[i]!;
    if (h.used.cpus + c.resources.cpus > h.allowance.cpus) throw new NoCapacityError(c.containerName, { 'full on cpu': 1 }, c.hostId);
    this.hosts[i] = { ...h, used: { ...h.used, cpus: h.used.cpus + c.resources.cpus } };
    const now = new Date().toISOString();
    return {
      id: `placeholder-${c.commandId}`,
      type: 'placeholder',
      name: `placeholder-${c.commandId}`,
      definition: {},
      state: 'held',
      metadata: {},
      tags: {},
      parentId: c.hostId,
      keys: [`claim:${c.commandId}`],
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
  }

  fill(hostId: string): void {
    const i = this.hosts.findIndex((h) => h.id === hostId);
    this.hosts[i] = { ...this.hosts[i]!, used: used(this.hosts[i]!.allowance.cpus, 0, 0) };
  }
}

/** A request for `n` cpus and little else (hosts have 16 cpus). */
const cpus = (n: number, name = 'c') => request(name, { resources: { cpus: n, memoryMiB: 1, diskGiB: 1 } });
const base = (commandId: string) => ({ commandId, containerName: commandId, ttlSeconds: 60 });

describe('Placer', () => {
  it('reads one snapshot for many placements and packs with its own claims', async () => {
    const registry = new FakeRegistry([host('a'), host('b'), host('c', { used: used(8, 0, 0) })]);
    const placer = new Placer(registry);
    const hosts: string[] = [];
    for (let i = 0; i < 6; i++) hosts.push((await placer.placeAndClaim(cpus(4), base(`cmd-${i}`))).placeholder.parentId!);
    // c (half full) takes two, then one empty host takes four: the copy knew its own claims.
    assert.equal(hosts.slice(0, 2).join(), 'c,c');
    assert.equal(new Set(hosts.slice(2)).size, 1);
    assert.equal(registry.snapshots, 1);
  });

  it('after a lost race reads the registry again and claims another host, and says so', async () => {
    const registry = new FakeRegistry([host('a', { used: used(8, 0, 0) }), host('b')]);
    const placer = new Placer(registry);
    registry.beforeClaim = (id) => {
      if (id === 'a') registry.fill('a');
    };
    const r = await placer.placeAndClaim(cpus(2), base('cmd-1'));
    assert.equal(r.placeholder.parentId, 'b');
    assert.equal(r.attempts, 2);
    assert.deepEqual(r.skipped, [{ hostId: 'a', reason: 'full on cpu' }]);
    assert.equal(registry.snapshots, 2);
  });

  it('reads the registry again before refusing on an old copy (capacity was released)', async () => {
    const registry = new FakeRegistry([host('a', { allowance: { cpus: 4, memoryMiB: 65536, diskGiB: 1000 } })]);
    const placer = new Placer(registry);
    await placer.placeAndClaim(cpus(4), base('cmd-1'));
    registry.hosts = [{ ...registry.hosts[0]!, used: used(0, 0, 0) }];
    const r = await placer.placeAndClaim(cpus(4), base('cmd-2'));
    assert.equal(r.placeholder.parentId, 'a');
    assert.equal(registry.snapshots, 2);
  });

  it('refuses with every host counted once: filled when claimed, full, not tried', async () => {
    const registry = new FakeRegistry([host('a', { used: used(12, 0, 0) }), host('b', { used: used(8, 0, 0) }), host('c', { used: used(4, 0, 0) }), host('d'), host('e', { used: used(16, 0, 0) })]);
    registry.beforeClaim = (id) => registry.fill(id);
    const placer = new Placer(registry, { maxAttempts: 2 });
    await assert.rejects(placer.placeAndClaim(cpus(2), base('cmd-1')), (err: unknown) => {
      assert.ok(err instanceof NoCapacityError);
      assert.equal(Object.values(err.reasons).reduce((a, b) => a + b, 0), 5);
      assert.equal(err.reasons['full on cpu when claimed'], 2);
      assert.equal(err.reasons['full on cpu'], 1);
      assert.equal(err.reasons['not tried after 2 claims'], 2);
      return true;
    });
    assert.equal(registry.attempts.length, 2);
  });

  it('treats a host that is gone as a wrong copy, and lets other failures through', async () => {
    const registry = new FakeRegistry([host('a', { used: used(8, 0, 0) }), host('b')]);
    const placer = new Placer(registry);
    await placer.placeAndClaim(cpus(2), base('cmd-1'));
    registry.hosts = registry.hosts.filter((h) => h.id !== 'a');
    const r = await placer.placeAndClaim(cpus(2), base('cmd-2'));
    assert.equal(r.placeholder.parentId, 'b');
    assert.deepEqual(r.skipped, [{ hostId: 'a', reason: 'gone' }]);
    registry.beforeClaim = () => {
      throw new Error('database gone');
    };
    await assert.rejects(placer.placeAndClaim(cpus(2), base('cmd-3')), /database gone/);
  });

  it('reads the registry again when the copy is older than maxAgeMs', async () => {
    const registry = new FakeRegistry([host('a')]);
    const placer = new Placer(registry, { maxAgeMs: 0 });
    await placer.placeAndClaim(cpus(2), base('cmd-1'));
    await new Promise((r) => setTimeout(r, 5));
    await placer.placeAndClaim(cpus(2), base('cmd-2'));
    assert.equal(registry.snapshots, 2);
  });

  it('with shares, placers fill different hosts, then reach into the others when theirs are full', async () => {
    const registry = new FakeRegistry(Array.from({ length: 8 }, (_, i) => host(`h${i}`, { allowance: { cpus: 4, memoryMiB: 65536, diskGiB: 1000 } })));
    const placers = [0, 1].map((index) => new Placer(registry, { seed: index, shard: { index, count: 2 } }));
    const used = [new Set<string>(), new Set<string>()];
    for (let i = 0; i < 8; i++) {
      for (const [p, placer] of placers.entries()) used[p]!.add((await placer.placeAndClaim(cpus(1), base(`cmd-${p}-${i}`))).placeholder.parentId!);
    }
    // Two 4-cpu hosts each, never the same ones, and no race lost.
    assert.equal(used[0]!.size, 2);
    assert.equal(used[1]!.size, 2);
    assert.deepEqual([...used[0]!].filter((h) => used[1]!.has(h)), []);
    assert.equal(registry.snapshots, 2);
    assert.equal(registry.hosts.filter((h) => h.used.cpus > 0).length, 4);
    // Placer 0 keeps placing: when its share (whichever hosts hash to it) is full, it takes the others'.
    for (let i = 8; i < 24; i++) await placers[0]!.placeAndClaim(cpus(1), base(`cmd-0-${i}`));
    assert.equal(registry.hosts.reduce((a, h) => a + h.used.cpus, 0), 32);
    await assert.rejects(placers[1]!.placeAndClaim(cpus(1), base('cmd-1-last')), NoCapacityError);
  });

  it('reads once for concurrent placements in one process', async () => {
    const registry = new FakeRegistry(Array.from({ length: 4 }, (_, i) => host(`h${i}`)));
    const placer = new Placer(registry);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => placer.placeAndClaim(cpus(2), base(`cmd-${i}`))));
    assert.equal(new Set(results.map((r) => r.placeholder.parentId)).size, 1);
    assert.equal(registry.snapshots, 1);
    for (const h of registry.hosts) assert.ok(h.used.cpus <= h.allowance.cpus);
  });
});
