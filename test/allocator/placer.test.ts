import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostSnapshot } from '../../src/allocator';
import { Placer, seedOf, Turns, type PlacementRegistry } from '../../src/allocator/placer';
import { NoCapacityError, NotFoundError } from '../../src/domain/errors';
import type { NodeRecord } from '../../src/domain/types';
import type { ClaimRequest } from '../../src/registry/types';
import { place } from '../../src/allocator';
import { host, request, used } from './builders';

/**
 * The two registry calls a Placer makes, in memory. `claim` re-checks capacity as the real one
 * does; `beforeClaim` lets a test change the registry behind the placer's back, as another
 * process would.
 */
class FakeRegistry implements PlacementRegistry {
  snapshots = 0;
  hostReads = 0;
  readonly attempts: string[] = [];
  readonly claims: ClaimRequest[] = [];
  beforeClaim: (hostId: string) => void = () => {};
  constructor(public hosts: HostSnapshot[]) {}

  async hostSnapshot(hostIds?: readonly string[]): Promise<HostSnapshot[]> {
    if (hostIds) {
      this.hostReads++;
      return this.hosts.filter((h) => hostIds.includes(h.id)).map((h) => ({ ...h }));
    }
    this.snapshots++;
    return this.hosts.map((h) => ({ ...h }));
  }

  async claim(c: ClaimRequest): Promise<NodeRecord> {
    this.attempts.push(c.hostId);
    this.claims.push(c);
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

  it('after a lost race reads that host again (only that one) and claims another host, and says so', async () => {
    const registry = new FakeRegistry([host('a', { used: used(8, 0, 0) }), host('b')]);
    const placer = new Placer(registry);
    registry.beforeClaim = (id) => {
      if (id === 'a') registry.fill('a');
    };
    const r = await placer.placeAndClaim(cpus(2), base('cmd-1'));
    assert.equal(r.placeholder.parentId, 'b');
    assert.equal(r.attempts, 2);
    assert.deepEqual(r.skipped, [{ hostId: 'a', reason: 'full on cpu' }]);
    assert.equal(registry.snapshots, 1);
    assert.equal(registry.hostReads, 1);
    // The copy now knows a is full: the next placement goes straight to b.
    await placer.placeAndClaim(cpus(2), base('cmd-2'));
    assert.deepEqual(registry.attempts, ['a', 'b', 'b']);
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
    // The claim found a gone: the copy was read again in full, and b claimed.
    assert.deepEqual(r.skipped, [{ hostId: 'a', reason: 'gone' }]);
    assert.equal(r.attempts, 2);
    assert.equal(registry.snapshots, 2);
    registry.hosts = [host('c')];
    registry.beforeClaim = () => {
      registry.hosts = [];
    };
    await assert.rejects(placer.placeAndClaim(cpus(2), base('cmd-2b')), NoCapacityError);
    registry.hosts = [host('c')];
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

  it('spreads two commands with different ids over equally good hosts, and places one id the same way twice', async () => {
    const equal = () => Array.from({ length: 8 }, (_, i) => host(`h${i}`));
    // Two processes, each with its own copy, placing at the same moment on empty, equal hosts.
    const registry = new FakeRegistry(equal());
    const [p1, p2] = [new Placer(registry, { seed: 0 }), new Placer(registry, { seed: 0 })];
    const [a, b] = await Promise.all([p1.placeAndClaim(cpus(1), base('create-web1-0f3a')), p2.placeAndClaim(cpus(1), base('create-web2-81d0'))]);
    assert.notEqual(a.placeholder.parentId, b.placeholder.parentId);
    assert.equal(a.attempts + b.attempts, 2);
    // The seed is the command id's: the same id on the same hosts, with the same Placer seed, takes the same host.
    const again = await new Placer(new FakeRegistry(equal()), { seed: 0 }).placeAndClaim(cpus(1), base('create-web1-0f3a'));
    assert.equal(again.placeholder.parentId, a.placeholder.parentId);
    assert.notEqual(seedOf('create-web1-0f3a'), seedOf('create-web2-81d0'));
    // Over many ids, every equal host is chosen by some.
    const chosen = new Set<string>();
    for (let i = 0; i < 64; i++) chosen.add((await new Placer(new FakeRegistry(equal()), { seed: 0 }).placeAndClaim(cpus(1), base(`cmd-${i}`))).placeholder.parentId!);
    assert.equal(chosen.size, 8);
  });

  it('with spread 1 takes the first of equal hosts, as place() does', async () => {
    const hosts = Array.from({ length: 8 }, (_, i) => host(`h${i}`));
    const first = place(hosts, cpus(1)).host!.id;
    for (const id of ['x', 'y', 'z']) {
      const r = await new Placer(new FakeRegistry(hosts), { spread: 1, seed: 0 }).placeAndClaim(cpus(1), base(id), 0);
      assert.equal(r.placeholder.parentId, first);
    }
  });

  it('claims the groups of the request when the base names none', async () => {
    const registry = new FakeRegistry([host('a')]);
    await new Placer(registry).placeAndClaim(request('web1', { antiAffinity: ['env:1/web'], affinity: ['env:1'] }), base('cmd-1'));
    assert.deepEqual(registry.claims[0]!.groups, ['env:1/web', 'env:1']);
  });

  it("refuses with the allocator's reasons, worded for users, when no host fits a fresh copy", async () => {
    const registry = new FakeRegistry([host('a', { state: 'down' }), host('b', { driver: 'libvirt' }), host('c', { used: used(16, 0, 0) })]);
    await assert.rejects(new Placer(registry).placeAndClaim({ ...cpus(1, 'w40'), driver: 'sim' }, base('cmd-1')), (err: unknown) => {
      assert.ok(err instanceof NoCapacityError);
      assert.deepEqual(err.reasons, { down: 1, 'wrong driver': 1, 'full on cpu': 1 });
      assert.match(err.message, /^no capacity for w40: /);
      return true;
    });
    assert.deepEqual(registry.attempts, []);
    assert.equal(registry.snapshots, 1);
  });

  it('a claim that fails for another reason takes its hold off the copy', async () => {
    const registry = new FakeRegistry([host('a', { allowance: { cpus: 2, memoryMiB: 65536, diskGiB: 1000 } })]);
    const placer = new Placer(registry);
    registry.beforeClaim = () => {
      throw new Error('database gone');
    };
    await assert.rejects(placer.placeAndClaim(cpus(2), base('cmd-1')), /database gone/);
    registry.beforeClaim = () => {};
    assert.equal((await placer.placeAndClaim(cpus(2), base('cmd-2'))).placeholder.parentId, 'a');
    assert.equal(registry.snapshots, 1);
  });

  it('reads once for concurrent placements in one process', async () => {
    const registry = new FakeRegistry(Array.from({ length: 4 }, (_, i) => host(`h${i}`)));
    const placer = new Placer(registry);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => placer.placeAndClaim(cpus(2), base(`cmd-${i}`))));
    // Each saw the others' holds: packed on the fewest hosts, no claim refused.
    assert.equal(new Set(results.map((r) => r.placeholder.parentId)).size, 1);
    assert.ok(results.every((r) => r.attempts === 1));
    assert.equal(registry.snapshots, 1);
    for (const h of registry.hosts) assert.ok(h.used.cpus <= h.allowance.cpus);
  });

  it('contended (claims on the copy refused), reads the best candidates before claiming; uncontended, claims on the copy alone', async () => {
    const hosts = Array.from({ length: 6 }, (_, i) => host(`h${i}`));
    const registry = new FakeRegistry(hosts);
    const placer = new Placer(registry, { seed: 0 });
    for (let i = 0; i < 4; i++) await placer.placeAndClaim(cpus(1), base(`calm-${i}`));
    assert.equal(registry.hostReads, 0, 'an uncontended placement read hosts before claiming');
    // Another process fills every host this one claims on, twice over.
    let thefts = 0;
    registry.beforeClaim = (id) => {
      if (thefts++ < 2) registry.fill(id);
    };
    await placer.placeAndClaim(cpus(1), base('raced'));
    registry.beforeClaim = () => {};
    const reads = registry.hostReads;
    const attempts = registry.attempts.length;
    const r = await placer.placeAndClaim(cpus(1), base('after'));
    assert.equal(r.attempts, 1);
    assert.equal(registry.attempts.length, attempts + 1);
    assert.ok(registry.hostReads > reads, 'a placement after lost races claimed without reading its candidates');
  });
});

describe('Turns', () => {
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };

  it('never runs a read beside a claim; claims asked for while a read waits go after it, together', async () => {
    const turns = new Turns();
    const log: string[] = [];
    const step = (name: string) => {
      const d = deferred();
      return {
        done: d.resolve,
        run: () => {
          log.push(`${name} starts`);
          return d.promise.then(() => log.push(`${name} ends`));
        },
      };
    };
    const [a, r, b, c] = [step('claim a'), step('read r'), step('claim b'), step('claim c')];
    const ra = turns.run('claim', a.run);
    const rr = turns.run('read', r.run);
    const rb = turns.run('claim', b.run);
    const rc = turns.run('claim', c.run);
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(log, ['claim a starts']);
    a.done();
    await ra;
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(log, ['claim a starts', 'claim a ends', 'read r starts']);
    r.done();
    await rr;
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(log.slice(3), ['read r ends', 'claim b starts', 'claim c starts']);
    b.done();
    c.done();
    await Promise.all([rb, rc]);
  });
});
