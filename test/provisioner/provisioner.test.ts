// The provisioner: what may enter the cluster, with which keys and addresses; and every refused
// request leaves the database exactly as it was. Runs on SQLite and MariaDB.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { HasChildrenError, InvalidInputError, KeyConflictError, type FieldProblem } from '../../src/domain/errors';
import { MAX_CPUS, MAX_DISK_GIB, MAX_MEMORY_MIB } from '../../src/domain/limits';
import { META } from '../../src/domain/types';
import { Provisioner, allocateAddress, hostAddresses, macForIp, parsePool } from '../../src/provisioner';
import type { SqlRegistry } from '../../src/registry';
import type { Registry } from '../../src/registry/types';
import { describeOnDatabases } from '../support/databases';
import { assertRefusedUnchanged, hypervisorDefinition } from '../registry/fixtures';

const container = (extra: Record<string, unknown> = {}) => ({ kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 10, ...extra });

function fields(problems: readonly FieldProblem[]): string[] {
  return problems.map((p) => `${p.field} ${p.problem}`);
}

/** Expects an InvalidInputError whose problems are exactly `expected` (as `field problem`). */
function invalid(expected: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${String(err)}`);
    assert.deepEqual(fields(err.problems).sort(), [...expected].sort());
    return true;
  };
}

describeOnDatabases('provisioner', (db) => {
  const setup = async (ipPool?: string): Promise<{ registry: SqlRegistry; provisioner: Provisioner }> => {
    const registry = await db().registry();
    return { registry, provisioner: new Provisioner(registry, ipPool ? { ipPool } : {}) };
  };

  test('provisions a hypervisor, filling overcommit ratios left out with 1', async () => {
    const { registry, provisioner } = await setup();
    const hv = await provisioner.provisionHypervisor({
      name: 'hv-1',
      definition: { ...hypervisorDefinition(), overcommit: { cpu: 4 } as never, labels: { zone: 'a' } },
      tags: { rack: 'r1' },
    });
    assert.equal(hv.type, 'hypervisor');
    assert.equal(hv.state, 'up');
    assert.deepEqual(hv.definition.overcommit, { cpu: 4, memory: 1, disk: 1 });
    assert.deepEqual(hv.tags, { rack: 'r1' });
    assert.deepEqual(hv.keys, ['name:hv-1']);
    const [snapshot] = await registry.hostSnapshot();
    assert.deepEqual(snapshot!.allowance, { cpus: 32, memoryMiB: 16384, diskGiB: 500 });
  });

  test('allocates the lowest free address and derives the mac from it', async () => {
    const { registry, provisioner } = await setup('10.1.2.0/29');
    await registry.add({ type: 'container', name: 'squatter', definition: {}, state: 'new', keys: ['ip:10.1.2.2'] });
    const a = await provisioner.provisionContainer({ name: 'a', definition: container() });
    const b = await provisioner.provisionContainer({ name: 'b', definition: container() });
    const c = await provisioner.provisionContainer({ name: 'c', definition: container({ network: { bridge: 'br0' } }) });
    assert.deepEqual(a.definition.network, { ip: '10.1.2.1', mac: '02:00:0a:01:02:01' });
    assert.deepEqual(b.definition.network, { ip: '10.1.2.3', mac: '02:00:0a:01:02:03' }, 'did not skip the taken address');
    assert.deepEqual(c.definition.network, { bridge: 'br0', ip: '10.1.2.4', mac: '02:00:0a:01:02:04' });
    assert.deepEqual(a.keys, ['ip:10.1.2.1', 'mac:02:00:0a:01:02:01', 'name:a']);
    assert.equal(a.state, 'new');
    assert.equal(a.parentId, null);
  });

  test('moves past an address whose derived mac someone else holds', async () => {
    const { registry, provisioner } = await setup('10.1.3.0/29');
    await registry.add({ type: 'container', name: 'holder', definition: {}, state: 'new', keys: [`mac:${macForIp('10.1.3.1')}`] });
    const a = await provisioner.provisionContainer({ name: 'a', definition: container() });
    assert.equal(a.definition.network && (a.definition.network as { ip: string }).ip, '10.1.3.2');
    assert.equal(await registry.findByKey('ip:10.1.3.1'), undefined);
  });

  test('refuses when the pool has no free address left, writing nothing', async () => {
    const { registry, provisioner } = await setup('10.1.4.0/30');
    await provisioner.provisionContainer({ name: 'a', definition: container() });
    await provisioner.provisionContainer({ name: 'b', definition: container() });
    await assertRefusedUnchanged(registry, () => provisioner.provisionContainer({ name: 'c', definition: container() }), invalid([
      'network.ip cannot be allocated: no free address left in 10.1.4.0/30',
    ]));
  });

  test('reserves a given ip and mac (lower-cased) and refuses a second owner of either', async () => {
    const { registry, provisioner } = await setup();
    const a = await provisioner.provisionContainer({ name: 'a', definition: container({ network: { ip: '10.0.0.5', mac: '02:00:0A:00:00:05' } }) });
    assert.deepEqual(a.keys, ['ip:10.0.0.5', 'mac:02:00:0a:00:00:05', 'name:a']);
    assert.deepEqual(a.definition.network, { ip: '10.0.0.5', mac: '02:00:0a:00:00:05' });
    await assertRefusedUnchanged(registry, () => provisioner.provisionContainer({ name: 'b', definition: container({ network: { ip: '10.0.0.5', mac: '02:00:00:00:00:99' } }) }), {
      name: 'KeyConflictError',
      key: 'ip:10.0.0.5',
      ownerId: a.id,
      ownerName: 'a',
    });
    await assertRefusedUnchanged(registry, () => provisioner.provisionContainer({ name: 'b', definition: container({ network: { ip: '10.0.0.6', mac: '02:00:0a:00:00:05' } }) }), {
      name: 'KeyConflictError',
      key: 'mac:02:00:0a:00:00:05',
    });
    const derived = await provisioner.provisionContainer({ name: 'c', definition: container({ network: { ip: '10.0.0.7' } }) });
    assert.equal((derived.definition.network as { mac: string }).mac, '02:00:0a:00:00:07');
  });

  test('returns the stored container when a provision is retried with its id', async () => {
    const { registry, provisioner } = await setup();
    const id = randomUUID();
    const first = await provisioner.provisionContainer({ id, name: 'a', definition: container() });
    const before = await registry.rowCounts();
    assert.deepEqual(await provisioner.provisionContainer({ id, name: 'a', definition: container() }), first);
    assert.deepEqual(await registry.rowCounts(), before);
  });

  test('returns the stored container on a retry with its id even when the pool has no address left', async () => {
    const { registry, provisioner } = await setup('10.1.4.0/30');
    const id = randomUUID();
    const first = await provisioner.provisionContainer({ id, name: 'a', definition: container() });
    await provisioner.provisionContainer({ name: 'b', definition: container() });
    const before = await registry.rowCounts();
    assert.deepEqual(await provisioner.provisionContainer({ id, name: 'a', definition: container() }), first);
    assert.deepEqual(await registry.rowCounts(), before);
    await assertRefusedUnchanged(registry, () => provisioner.provisionContainer({ id: randomUUID(), name: 'c', definition: container() }), invalid([
      'network.ip cannot be allocated: no free address left in 10.1.4.0/30',
    ]));
  });

  test('counts a container group in its vmflow.groups metadata', async () => {
    const { provisioner } = await setup();
    const c = await provisioner.provisionContainer({ name: 'a', definition: container({ group: 'db' }) });
    assert.deepEqual(c.metadata[META.groups], ['group:db']);
    assert.equal(c.definition.group, 'db');
  });

  test('registers a container on an existing hypervisor, and refuses a parent that is not one', async () => {
    const { registry, provisioner } = await setup();
    const hv = await provisioner.provisionHypervisor({ name: 'hv', definition: hypervisorDefinition() });
    const env = await provisioner.provisionEnvironment({ name: 'shop', definition: { antiAffinity: true } });
    assert.equal(env.state, 'active');
    const c = await provisioner.provisionContainer({ name: 'a', definition: container(), parentId: hv.id });
    assert.equal(c.parentId, hv.id);
    assert.deepEqual(await registry.usage(hv.id), { cpus: 1, memoryMiB: 512, diskGiB: 10 });
    await assertRefusedUnchanged(registry, () => provisioner.provisionContainer({ name: 'b', definition: container(), parentId: env.id }), invalid([
      'parentId names an environment, not a hypervisor',
    ]));
  });

  test('deprovisions a node with its keys, but not a host that still has containers', async () => {
    const { registry, provisioner } = await setup();
    const hv = await provisioner.provisionHypervisor({ name: 'hv', definition: hypervisorDefinition() });
    const c = await provisioner.provisionContainer({ name: 'a', definition: container(), parentId: hv.id });
    await assertRefusedUnchanged(registry, () => provisioner.deprovision(hv.id), HasChildrenError);
    await provisioner.deprovision(c.id);
    assert.equal(await registry.findByKey(c.keys[0]!), undefined);
    await provisioner.deprovision(hv.id);
    assert.deepEqual(await registry.rowCounts(), { host_samples: 0, node_events: 0, node_keys: 0, node_tags: 0, nodes: 0 });
  });

  // ---------------------------------------------------------------- bad input, database unchanged

  test('refuses an unknown node type', async () => {
    const { registry, provisioner } = await setup();
    assert.deepEqual(provisioner.validate('vm', { name: 'a' }), [{ field: 'type', problem: 'must be one of hypervisor, container, environment' }]);
    assert.deepEqual(fields(provisioner.validate('placeholder', {})), ['type must be one of hypervisor, container, environment']);
    await assertRefusedUnchanged(registry, () => provisioner.provision('vm', { name: 'a', definition: {} }), invalid(['type must be one of hypervisor, container, environment']));
  });

  test('lists a missing capacity and every bad capacity field in one error', async () => {
    const { registry, provisioner } = await setup();
    const { capacity: _omitted, ...withoutCapacity } = hypervisorDefinition();
    await assertRefusedUnchanged(registry, () => provisioner.provisionHypervisor({ name: 'hv', definition: withoutCapacity as never }), invalid(['capacity is required']));
    await assertRefusedUnchanged(
      registry,
      () => provisioner.provisionHypervisor({ name: 'hv', definition: { ...hypervisorDefinition(), capacity: { cpus: -2, memoryMiB: 0 } as never, overcommit: { cpu: 0.5, memory: 1, disk: 1 } } }),
      invalid([`capacity.cpus must be an integer from 1 to ${MAX_CPUS}`, `capacity.memoryMiB must be an integer from 1 to ${MAX_MEMORY_MIB}`, 'capacity.diskGiB is required', 'overcommit.cpu must be >= 1']),
    );
    await assertRefusedUnchanged(
      registry,
      () => provisioner.provision('hypervisor', { name: 'Bad Name!', definition: { driver: 'xen', address: '', capacity: { cpus: '4', memoryMiB: 1, diskGiB: 1 }, color: 'red' } }),
      invalid([
        'name must be 1 to 63 characters of a-z, 0-9, -, _ and ., starting with a letter or digit',
        'driver must be one of sim, libvirt',
        'address must not be empty',
        `capacity.cpus must be an integer from 1 to ${MAX_CPUS}`,
        'color is not a known field',
      ]),
    );
  });

  test('refuses malformed IP and MAC addresses', async () => {
    const { registry, provisioner } = await setup();
    for (const [network, expected] of [
      [{ ip: '10.0.0.256' }, ['network.ip must be an IPv4 address like 10.0.0.5']],
      [{ ip: '10.0.0' }, ['network.ip must be an IPv4 address like 10.0.0.5']],
      [{ ip: '010.0.0.1' }, ['network.ip must be an IPv4 address like 10.0.0.5']],
      [{ ip: '10.0.0.1', mac: '02:00:0a:00:00' }, ['network.mac must be a MAC address like 02:00:0a:00:00:05']],
      [{ mac: '02-00-0a-00-00-01' }, ['network.mac must be a MAC address like 02:00:0a:00:00:05']],
      [{ ip: 'x', mac: 'gg:00:00:00:00:00' }, ['network.ip must be an IPv4 address like 10.0.0.5', 'network.mac must be a MAC address like 02:00:0a:00:00:05']],
    ] as const) {
      await assertRefusedUnchanged(registry, () => provisioner.provisionContainer({ name: 'a', definition: container({ network }) }), invalid([...expected]));
    }
  });

  test('sizes are whole numbers within the limits; a kind must be one of the kinds it is given', async () => {
    const { registry, provisioner } = await setup();
    for (const [field, value, max] of [['cpus', 0.5, MAX_CPUS], ['cpus', 1e-300, MAX_CPUS], ['cpus', 1e308, MAX_CPUS], ['memoryMiB', 0.001, MAX_MEMORY_MIB], ['diskGiB', 2 ** 53 + 1, MAX_DISK_GIB]] as const) {
      await assertRefusedUnchanged(registry, () => provisioner.provisionContainer({ name: 'a', definition: container({ [field]: value }) }), invalid([`${field} must be an integer from 1 to ${max}`]));
      await assertRefusedUnchanged(registry, () => provisioner.provisionHypervisor({ name: 'hv', definition: hypervisorDefinition({ cpus: 8, memoryMiB: 1024, diskGiB: 10, [field]: value }) }), invalid([`capacity.${field} must be an integer from 1 to ${max}`]));
    }
    assert.deepEqual(provisioner.validate('container', { name: 'a', definition: container({ cpus: MAX_CPUS, memoryMiB: MAX_MEMORY_MIB, diskGiB: MAX_DISK_GIB }) }), []);
    assert.deepEqual(provisioner.validate('container', { name: 'a', definition: container({ kind: 'mainframe' }) }), [], 'any kind when none are given');
    const kinded = new Provisioner(registry, { kinds: ['web', 'db'] });
    await assertRefusedUnchanged(registry, () => kinded.provisionContainer({ name: 'a', definition: container({ kind: 'mainframe' }) }), invalid(['kind must be one of db, web']));
    assert.deepEqual(kinded.validate('container', { name: 'a', definition: container({ kind: 'db' }) }), []);
  });

  test('refuses bad container resources, unknown fields and keys passed by hand', async () => {
    const { registry, provisioner } = await setup();
    await assertRefusedUnchanged(
      registry,
      () => provisioner.provision('container', { name: 'a', definition: { cpus: 0, memoryMiB: -1, diskGiB: 10, gpu: 1 }, keys: ['name:b'] }),
      invalid(['kind is required', `cpus must be an integer from 1 to ${MAX_CPUS}`, `memoryMiB must be an integer from 1 to ${MAX_MEMORY_MIB}`, 'gpu is not a known field', 'keys is not a known field']),
    );
    // The registry below refuses a hand-made name: key too, whoever calls it.
    await assertRefusedUnchanged(registry, () => registry.add({ type: 'container', name: 'a', definition: {}, state: 'new', keys: ['name:b'] }), (err: unknown) => {
      assert.ok(err instanceof InvalidInputError);
      assert.match(err.message, /keys\[0\] is reserved/);
      return true;
    });
  });

  test('refuses a parent that does not exist', async () => {
    const { registry, provisioner } = await setup();
    const missing = randomUUID();
    await assertRefusedUnchanged(registry, () => provisioner.provisionContainer({ name: 'a', definition: container(), parentId: missing }), { name: 'NotFoundError', ref: missing });
    await assertRefusedUnchanged(registry, () => provisioner.provisionContainer({ name: 'a', definition: container(), parentId: 'hv-1' }), invalid(['parentId must be a UUID']));
  });

  test('refuses a cycle in the parent chain', async () => {
    const { registry, provisioner } = await setup();
    const outer = await provisioner.provisionEnvironment({ name: 'outer' });
    const inner = await registry.add({ type: 'environment', name: 'inner', definition: {}, state: 'active', parentId: outer.id });
    const before = await registry.get(outer.id);
    await assertRefusedUnchanged(registry, () => registry.move(outer.id, undefined, inner.id), invalid([`parentId would make outer (${outer.id}) its own ancestor`]));
    await assertRefusedUnchanged(registry, () => registry.move(outer.id, undefined, outer.id), InvalidInputError);
    assert.deepEqual(await registry.get(outer.id), before);
  });

  test('refuses oversized metadata', async () => {
    const { registry, provisioner } = await setup();
    const c = await provisioner.provisionContainer({ name: 'a', definition: container() });
    await assertRefusedUnchanged(registry, () => registry.update(c.id, undefined, { metadata: { 'app.blob': 'x'.repeat(70_000) } }), (err: unknown) => {
      assert.ok(err instanceof InvalidInputError);
      assert.equal(err.problems[0]!.field, 'metadata');
      return true;
    });
    assert.deepEqual(await registry.get(c.id), c);
  });

  test('takes a request that passes validate() as it is', async () => {
    const { provisioner } = await setup();
    const request = { name: 'web-1.prod_a', definition: container({ image: 'debian-12', requires: { zone: 'a' }, network: { ip: '10.0.0.9', mac: 'AA:bb:cc:dd:ee:ff', bridge: 'br0' } }) };
    assert.deepEqual(provisioner.validate('container', request), []);
    const node = await provisioner.provisionContainer(request);
    assert.deepEqual(node.definition, { ...request.definition, network: { ip: '10.0.0.9', mac: 'aa:bb:cc:dd:ee:ff', bridge: 'br0' } });
  });
});

describe('address pool', () => {
  test('skips the network and broadcast addresses', () => {
    assert.deepEqual([...hostAddresses(parsePool('192.168.7.0/30'))], ['192.168.7.1', '192.168.7.2']);
    assert.equal([...hostAddresses(parsePool('10.0.0.0/16'))].length, 65534);
    assert.deepEqual(parsePool('10.0.3.77/24'), { cidr: '10.0.3.77/24', network: 0x0a000300, broadcast: 0x0a0003ff });
  });

  test('derives 02:00 plus the octets in hex', () => {
    assert.equal(macForIp('10.0.0.5'), '02:00:0a:00:00:05');
    assert.equal(macForIp('192.168.255.1'), '02:00:c0:a8:ff:01');
  });

  test('refuses a malformed pool', () => {
    for (const cidr of ['10.0.0.0', '10.0.0.0/31', '10.0.0.300/24', '10.0.0.0/x', '10.0.0.0/8/1']) {
      assert.throws(() => parsePool(cidr), InvalidInputError, cidr);
    }
    assert.throws(() => new Provisioner({} as Registry, { ipPool: 'nope' }), /ipPool/);
  });

  test('probes key by key when the registry cannot list keys, and retries lost races', async () => {
    const owned = new Set(['ip:10.5.0.1']);
    const registry = { findByKey: async (key: string) => (owned.has(key) ? ({} as never) : undefined) } as unknown as Registry;
    const tried: string[] = [];
    const result = await allocateAddress(registry, '10.5.0.0/29', async ({ ip, mac }) => {
      tried.push(ip);
      // A concurrent allocator wins 10.5.0.2 between our probe and our reserve.
      if (ip === '10.5.0.2') throw new KeyConflictError(`ip:${ip}`, 'other');
      return { ip, mac };
    });
    assert.deepEqual(tried, ['10.5.0.2', '10.5.0.3']);
    assert.deepEqual(result, { ip: '10.5.0.3', mac: '02:00:0a:05:00:03' });
    await assert.rejects(
      allocateAddress(registry, '10.5.0.0/29', async () => {
        throw new KeyConflictError('name:x', 'other');
      }),
      { name: 'KeyConflictError', key: 'name:x' },
      'a conflict on another key is the caller’s, not a reason to try the next address',
    );
  });
});
