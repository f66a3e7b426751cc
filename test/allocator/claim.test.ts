import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { placeAndClaim } from '../../src/allocator';
import type { HostSnapshot } from '../../src/allocator';
import { NoCapacityError, NotFoundError } from '../../src/domain/errors';
import type { NodeRecord } from '../../src/domain/types';
import type { ClaimRequest, Registry } from '../../src/registry/types';
import { host, request, used } from './builders';

/**
 * An in-memory registry with the two calls placeAndClaim uses. `claim` re-checks capacity as the
 * real one does under its row lock; `beforeClaim` lets a test fill a host in between, as a
 * concurrent command would.
 */
class FakeRegistry implements Pick<Registry, 'hostSnapshot' | 'claim'> {
  readonly claims: ClaimRequest[] = [];
  readonly attempts: string[] = [];
  beforeClaim: (hostId: string) => void = () => {};
  constructor(readonly hosts: HostSnapshot[]) {}

  async hostSnapshot(): Promise<HostSnapshot[]> {
    return this.hosts.map((h) => ({ ...h }));
  }

  async claim(c: ClaimRequest): Promise<NodeRecord> {
    this.attempts.push(c.hostId);
    this.beforeClaim(c.hostId);
    const i = this.hosts.findIndex((h) => h.id === c.hostId);
    if (i < 0) throw new NotFoundError('host', c.hostId);
    const h = this.hosts[i]!;
    const short = (['memoryMiB', 'cpus', 'diskGiB'] as const).find((r) => h.used[r] + c.resources[r] > h.allowance[r]);
    if (short) {
      const reason = short === 'memoryMiB' ? 'full on memory' : short === 'cpus' ? 'full on cpu' : 'full on disk';
      throw new NoCapacityError(c.containerName, { [reason]: 1 }, c.hostId);
    }
    this.hosts[i] = {
      ...h,
      used: { cpus: h.used.cpus + c.resources.cpus, memoryMiB: h.used.memoryMiB + c.resources.memoryMiB, diskGiB: h.used.diskGiB + c.resources.diskGiB },
    };
    this.claims.push(c);
    const now = new Date().toISOString();
    return {
      id: `placeholder-${this.claims.length}`,
      type: 'placeholder',
      name: `claim-${c.commandId}`,
      definition: { resources: c.resources, commandId: c.commandId, containerName: c.containerName },
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

  /** Fills a host's memory, as a claim that won the race would. */
  fill(hostId: string): void {
    const i = this.hosts.findIndex((h) => h.id === hostId);
    this.hosts[i] = { ...this.hosts[i]!, used: { ...this.hosts[i]!.used, memoryMiB: this.hosts[i]!.allowance.memoryMiB } };
  }
}

const base = { commandId: 'cmd-1', containerName: 'web1', ttlSeconds: 300 };
// Fullest first: bin-pack ranks a, then b, then c, then d.
const cluster = () => [
  host('a', { used: used(12, 49152, 0) }),
  host('b', { used: used(8, 32768, 0) }),
  host('c', { used: used(4, 16384, 0) }),
  host('d'),
];

describe('placeAndClaim', () => {
  it('claims the best host and returns its placeholder', async () => {
    const registry = new FakeRegistry(cluster());
    const r = request('web1', { antiAffinity: ['env:1/web'], groups: ['env:1', 'env:1/web'] });
    const result = await placeAndClaim(registry, r, base);
    assert.equal(result.placeholder.parentId, 'a');
    assert.equal(result.attempts, 1);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(registry.claims[0], { ...base, groups: ['env:1', 'env:1/web'], hostId: 'a', resources: r.resources });
  });

  it('claims the groups of the request when the base names none', async () => {
    const registry = new FakeRegistry(cluster());
    await placeAndClaim(registry, request('web1', { antiAffinity: ['env:1/web'], affinity: ['env:1'] }), base);
    assert.deepEqual(registry.claims[0]!.groups, ['env:1/web', 'env:1']);
  });

  it('when a claim loses a race, retries with the next candidate and says so', async () => {
    const registry = new FakeRegistry(cluster());
    registry.beforeClaim = (id) => {
      if (id === 'a' || id === 'b') registry.fill(id);
    };
    const result = await placeAndClaim(registry, request('web1'), base);
    assert.equal(result.placeholder.parentId, 'c');
    assert.equal(result.attempts, 3);
    assert.deepEqual(result.skipped, [
      { hostId: 'a', reason: 'full on memory' },
      { hostId: 'b', reason: 'full on memory' },
    ]);
    assert.deepEqual(registry.attempts, ['a', 'b', 'c']);
  });

  it('gives up after maxAttempts claims, naming the hosts that filled up and those not tried', async () => {
    const registry = new FakeRegistry([...cluster(), host('down', { state: 'down' })]);
    registry.beforeClaim = (id) => registry.fill(id);
    await assert.rejects(placeAndClaim(registry, request('web1'), base, { maxAttempts: 2 }), (err: unknown) => {
      assert.ok(err instanceof NoCapacityError);
      assert.deepEqual(err.reasons, { down: 1, 'full on memory when claimed': 2, 'not tried after 2 claims': 2 });
      assert.equal(err.message, 'no capacity for web1: 2 hosts full on memory when claimed, 2 hosts not tried after 2 claims, 1 host down');
      return true;
    });
    assert.deepEqual(registry.attempts, ['a', 'b']);
  });

  it('stops when every candidate is gone, within the bound', async () => {
    const registry = new FakeRegistry([host('a'), host('b', { used: used(0, 65536, 0) })]);
    registry.beforeClaim = (id) => registry.fill(id);
    await assert.rejects(placeAndClaim(registry, request('web1'), base, { maxAttempts: 5 }), (err: unknown) => {
      assert.ok(err instanceof NoCapacityError);
      assert.deepEqual(err.reasons, { 'full on memory': 1, 'full on memory when claimed': 1 });
      return true;
    });
    assert.deepEqual(registry.attempts, ['a']);
  });

  it("throws the allocator's reasons at once when no host fits the snapshot", async () => {
    const registry = new FakeRegistry([host('a', { state: 'down' }), host('b', { driver: 'libvirt' })]);
    await assert.rejects(placeAndClaim(registry, request('web1', { driver: 'sim' }), base), (err: unknown) => {
      assert.ok(err instanceof NoCapacityError);
      assert.deepEqual(err.reasons, { down: 1, 'wrong driver': 1 });
      return true;
    });
    assert.deepEqual(registry.attempts, []);
  });

  it('lets other claim failures through without retrying', async () => {
    const registry = new FakeRegistry(cluster());
    registry.beforeClaim = () => {
      throw new Error('database gone');
    };
    await assert.rejects(placeAndClaim(registry, request('web1'), base), /database gone/);
    assert.equal(registry.attempts.length, 1);
  });

  it('is reproducible: the same seed tries the same hosts in the same order', async () => {
    const equal = () => Array.from({ length: 10 }, (_, i) => host(`h${i}`));
    const first = new FakeRegistry(equal());
    const second = new FakeRegistry(equal());
    const a = await placeAndClaim(first, request('web1'), base, { seed: 11 });
    const b = await placeAndClaim(second, request('web1'), base, { seed: 11 });
    assert.equal(a.placeholder.parentId, b.placeholder.parentId);
    assert.deepEqual(a.placement, b.placement);
  });
});
