// Bad input gets a clear, typed error naming the field or key, and changes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError, InvalidTransitionError, KeyConflictError, NotFoundError } from '../../src/domain/errors';
import { MAX_CPUS, MAX_DISK_GIB, MAX_MEMORY_MIB } from '../../src/domain/limits';
import { Provisioner } from '../../src/provisioner';
import { assertConsistent, snapshotCluster } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

describe('bad input', () => {
  let stack: Stack;
  let before0: unknown;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }] });
    await (await stack.client.containers.create('web1', { definition: web, hint: 'hv-1' })).result();
    await (await stack.client.containers.create('web2', { definition: web, hint: 'hv-1', start: false })).result();
    before0 = await snapshotCluster(stack);
  });
  after(async () => {
    assert.deepEqual(await snapshotCluster(stack), before0);
    await assertConsistent(stack);
    await stack?.stop();
  });

  test('a command on an unknown container is refused', async () => {
    await assert.rejects(stack.client.containers.start('nope'), (e) => e instanceof NotFoundError && /container nope not found/.test(e.message));
  });

  test('an impossible transition is refused at once by the entity, with the reason', async () => {
    await assert.rejects(stack.client.containers.start('web1'), (e) => e instanceof InvalidTransitionError && /cannot start web1: it is running/.test(e.message));
    await assert.rejects(stack.client.containers.resume('web2'), (e) => e instanceof InvalidTransitionError && /cannot resume web2: it is stopped/.test(e.message));
    await assert.rejects(stack.client.containers.update('web1', { definition: { cpus: 2 } }), (e) => e instanceof InvalidTransitionError && /stop it first/.test(e.message));
  });

  test('an unknown host hint is refused', async () => {
    await assert.rejects(stack.client.containers.migrate('web1', { target: 'hv-9' }), (e) => e instanceof NotFoundError && /hypervisor hv-9 not found/.test(e.message));
    await assert.rejects(stack.client.containers.clone('web2', { name: 'web3', hint: 'hv-9' }), NotFoundError);
  });

  test('a clone onto an existing name is refused naming the owner', async () => {
    await assert.rejects(stack.client.containers.clone('web2', { name: 'web1' }), (e) => e instanceof KeyConflictError && /name:web1 is already owned by web1/.test(e.message));
  });

  test('a migrate to the current host is refused', async () => {
    await assert.rejects(stack.client.containers.migrate('web1', { target: 'hv-1' }), (e) => e instanceof InvalidInputError && /web1 is already on hv-1/.test(e.message));
  });

  test('a malformed definition lists every bad field', async () => {
    const err = await stack.client.containers.create('bad1', { definition: { kind: 'web', cpus: -1, memoryMiB: 0, diskGiB: 10, network: { ip: '10.0.0.300', mac: 'zz' } } }).catch((e) => e);
    assert.ok(err instanceof InvalidInputError, String(err));
    const fields = err.problems.map((p: { field: string }) => p.field).sort();
    assert.deepEqual(fields, ['cpus', 'memoryMiB', 'network.ip', 'network.mac']);
    await assert.rejects(stack.client.containers.create('Bad Name', { definition: web }), (e) => e instanceof InvalidInputError && /name must be/.test(e.message));
  });

  test('a create with a taken ip is refused at submission naming its owner, and leaves nothing behind', async () => {
    const ip = (await stack.client.containers.get('web1')).definition.network.ip;
    await assert.rejects(stack.client.containers.create('web9', { definition: { ...web, network: { ip } } }), (e) => e instanceof KeyConflictError && e.key === `ip:${ip}` && /already owned by web1/.test(e.message));
    assert.equal(await stack.services.registry.findByName('web9'), undefined);
    assert.deepEqual(await stack.client.commands.list({ container: 'web9' }), [], 'no command was started');
  });

  describe('sizes, kinds and addresses are refused before anything is written', () => {
    const SIZES: Array<[field: 'cpus' | 'memoryMiB' | 'diskGiB', value: number]> = [
      ['cpus', 1e-300],
      ['cpus', 0.5],
      ['memoryMiB', 0.001],
      ['cpus', 1e308],
      ['diskGiB', 2 ** 53 + 1],
      ['cpus', MAX_CPUS + 1],
      ['memoryMiB', MAX_MEMORY_MIB + 1],
      ['diskGiB', 0],
    ];
    const refusedNaming = (field: string) => (e: unknown) => {
      assert.ok(e instanceof InvalidInputError, String(e));
      assert.deepEqual(e.problems.map((p) => p.field), [field], e.message);
      assert.match(e.problems[0]!.problem, /^must be an integer from 1 to \d+$/);
      return true;
    };
    let snapshot: unknown;
    before(async () => {
      snapshot = await snapshotCluster(stack);
    });
    after(async () => {
      assert.deepEqual(await snapshotCluster(stack), snapshot, 'a refused input changed the registry or the sim');
      assert.equal(await stack.services.registry.findByName('sized'), undefined);
    });

    for (const [field, value] of SIZES) {
      test(`${field}: ${value} is refused by create, update, environment add and hypervisor add`, async () => {
        await assert.rejects(stack.client.containers.create('sized', { definition: { ...web, [field]: value } }), refusedNaming(field));
        await assert.rejects(stack.client.containers.update('web2', { definition: { [field]: value } }), refusedNaming(field));
        await assert.rejects(stack.client.environments.add('any', { create: { name: 'sized', definition: { ...web, [field]: value } } }), refusedNaming(field));
        const capacity = { cpus: 8, memoryMiB: 16384, diskGiB: 500, [field]: value };
        await assert.rejects(stack.client.hypervisors.add('hv-sized', { driver: 'sim', address: stack.sim.hostAddress('hv-sized'), capacity }), refusedNaming(`capacity.${field}`));
      });
    }

    test('sizes at their limits are accepted by validation', async () => {
      const problems = new Provisioner(stack.services.registry).validate('container', { name: 'big', definition: { ...web, cpus: MAX_CPUS, memoryMiB: MAX_MEMORY_MIB, diskGiB: MAX_DISK_GIB, network: { ip: '10.9.9.9' } } });
      assert.deepEqual(problems, []);
    });

    test('a kind that is not one of the known kinds is refused, naming the kinds', async () => {
      const kinds = stack.client.kinds.names();
      assert.deepEqual(kinds, ['balancer', 'db', 'generic', 'web']);
      const named = (e: unknown) => e instanceof InvalidInputError && e.problems.length === 1 && e.problems[0]!.field === 'kind' && e.problems[0]!.problem === `must be one of ${kinds.join(', ')}`;
      await assert.rejects(stack.client.containers.create('sized', { definition: { ...web, kind: 'mainframe' } }), named);
      await assert.rejects(stack.client.environments.add('any', { create: { name: 'sized', definition: { ...web, kind: 'mainframe' } } }), named);
    });

    test('an ip or mac owned by another node is refused at submission, naming the key and its owner', async () => {
      const owner = await stack.client.containers.get('web1');
      const { ip, mac } = owner.definition.network;
      const conflict = (key: string) => (e: unknown) => e instanceof KeyConflictError && e.key === key && e.ownerName === 'web1' && e.message.includes(`${key} is already owned by web1`);
      await assert.rejects(stack.client.containers.create('sized', { definition: { ...web, network: { ip } } }), conflict(`ip:${ip}`));
      await assert.rejects(stack.client.containers.create('sized', { definition: { ...web, network: { ip: '10.0.200.1', mac: mac.toUpperCase() } } }), conflict(`mac:${mac}`));
      await assert.rejects(stack.client.containers.clone('web2', { name: 'sized', ip }), conflict(`ip:${ip}`));
      await assert.rejects(stack.client.containers.clone('web2', { name: 'sized', mac }), conflict(`mac:${mac}`));
      await assert.rejects(stack.client.environments.add('any', { create: { name: 'sized', definition: { ...web, network: { ip } } } }), conflict(`ip:${ip}`));
      const commands = await stack.client.commands.list({ container: 'sized' });
      assert.deepEqual(commands, [], 'no command was started');
    });
  });

  test('two creates racing for one free ip: the registry lets exactly one have it', async () => {
    const ip = '10.0.123.45';
    const settled = await Promise.allSettled(['race-a', 'race-b'].map(async (name) => (await stack.client.containers.create(name, { definition: { ...web, network: { ip } }, hint: 'hv-2', start: false })).result()));
    const won = settled.filter((s) => s.status === 'fulfilled');
    const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    assert.equal(won.length, 1, JSON.stringify(settled.map((s) => s.status)));
    assert.ok(lost[0]!.reason instanceof KeyConflictError && lost[0]!.reason.key === `ip:${ip}`, String(lost[0]!.reason));
    const owner = await stack.services.registry.findByKey(`ip:${ip}`);
    assert.ok(owner && ['race-a', 'race-b'].includes(owner.name));
    await (await stack.client.containers.destroy(owner.name)).result();
    await assertConsistent(stack);
  });
});
