// An environment created with its members places them all or nothing: one registry transaction
// claims capacity for every member before any is built, and each member's create finds its claim.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { NoCapacityError } from '../../src/domain/errors';
import { META, type NodeRecord, type PlaceholderDefinition } from '../../src/domain/types';
import { assertConsistent, eventually, findViolations, snapshotCluster } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const small = (kind = 'generic') => ({ kind, cpus: 1, memoryMiB: 512, diskGiB: 10 });
const whole = { kind: 'generic', cpus: 4, memoryMiB: 512, diskGiB: 10 };

async function placeholders(stack: Stack): Promise<NodeRecord<PlaceholderDefinition>[]> {
  return (await stack.services.registry.list({ type: 'placeholder' })) as NodeRecord<PlaceholderDefinition>[];
}

/** Nothing of a refused or failed environment is left: no node, no claim, no container, no VM. */
async function nothingLeftOf(stack: Stack, environment: string, members: readonly string[]): Promise<void> {
  const registry = stack.services.registry;
  assert.equal(await registry.findByName(environment), undefined, `environment ${environment} is still registered`);
  assert.deepEqual((await placeholders(stack)).map((p) => p.definition.containerName), [], 'claims left');
  for (const name of members) assert.equal(await registry.findByName(name), undefined, `${name} is still registered`);
  const vms = (await stack.sim.admin.vms()).map((v) => v.name);
  assert.deepEqual(vms.filter((n) => members.includes(n)), [], 'VMs built on the sim');
}

async function eventsOf(stack: Stack, name: string) {
  const node = await stack.services.registry.findByName(name);
  assert.ok(node, `${name} is not registered`);
  return stack.services.registry.events(node.id, 200);
}

describe('environment members placed all or nothing', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1', cpus: 4 }, { name: 'hv-2', cpus: 4 }, { name: 'hv-3', cpus: 4 }] });
  });
  after(async () => stack?.stop());
  afterEach(async () => {
    await stack.sim.admin.clearFailures();
    await stack.sim.admin.setDelays({ provision: null });
  });
  const envs = () => stack.client.environments;

  test('the largest members are placed first: an environment that fits only that way is placed', async () => {
    const members = [
      { name: 'p-d1', definition: small('db') },
      { name: 'p-d2', definition: small('db') },
      { name: 'p-big1', definition: whole },
      { name: 'p-big2', definition: whole },
    ];
    const r = await (await envs().create('packed', { members })).result();
    assert.deepEqual(r.created, ['p-d1', 'p-d2', 'p-big1', 'p-big2'], 'built by priority');
    const placed = await envs().members('packed');
    const host = (n: string) => placed.find((m) => m.name === n)!.host;
    assert.equal(host('p-d1'), host('p-d2'), 'the only host left with room holds both databases');
    assert.equal(new Set([host('p-big1'), host('p-big2'), host('p-d1')]).size, 3);
    assert.ok((await eventsOf(stack, 'p-d2')).some((e) => e.what === `placed on ${host('p-d2')} beside its kind`));
    await (await envs().destroy('packed')).result();
    await assertConsistent(stack);
  });

  test('members that fit only together-or-not are refused whole: the one that did not fit named, nothing claimed or built', async () => {
    const before = await snapshotCluster(stack);
    const claims = stack.faults.calls('claim');
    const batches = stack.faults.calls('claimAll');
    const names = ['t1', 't2', 't3', 't4'];
    const h = await envs().create('tight', { members: names.map((name) => ({ name, definition: whole })) });
    await assert.rejects(h.result(), (err: unknown) => {
      assert.ok(err instanceof NoCapacityError, `not a NoCapacityError: ${String(err)}`);
      assert.equal(err.container, 't4');
      assert.match(err.message, /^no capacity for t4: 3 hosts full on cpu/);
      return true;
    });
    await nothingLeftOf(stack, 'tight', names);
    assert.deepEqual(await snapshotCluster(stack), before);
    assert.equal(stack.faults.calls('claim'), claims, 'no member claimed on its own');
    assert.equal(stack.faults.calls('claimAll'), batches, 'refused on the working copy, before any transaction');
    await assertConsistent(stack);
    // Nothing half-done: the same name is free for an environment that fits (once its entity has seen the create fail).
    const again = await eventually(() => envs().create('tight', { members: [{ name: 't1', definition: small() }] }).catch(() => undefined), 20_000, 'the entity to accept a create again');
    await again.result();
    await (await envs().destroy('tight')).result();
  });

  test('a fitting environment claims every member in one transaction before building any, and spreads its kind', async () => {
    const claims = stack.faults.calls('claim');
    const batches = stack.faults.calls('claimAll');
    await stack.sim.admin.setDelays({ provision: 1500 });
    const h = await envs().create('trio', { members: [{ name: 'g1', definition: small() }, { name: 'g2', definition: small() }, { name: 'db1', definition: small('db') }] });
    // While the first member builds, every member's claim is already held, all made at one instant by this command.
    const held = await eventually(async () => {
      const ps = await placeholders(stack);
      return ps.length === 3 ? ps : undefined;
    }, 30_000, 'every member claimed');
    assert.deepEqual(held.map((p) => p.definition.containerName).sort(), ['db1', 'g1', 'g2']);
    assert.equal(new Set(held.map((p) => p.createdAt)).size, 1, 'claims made in one transaction');
    assert.deepEqual([...new Set(held.map((p) => p.metadata[META.workflowId]))], [h.workflowId]);
    assert.ok((await stack.sim.admin.vms()).filter((v) => ['g1', 'g2'].includes(v.name)).length === 0, 'the generics are built after the db');

    const r = await h.result();
    assert.deepEqual(r.created, ['db1', 'g1', 'g2'], 'built by priority: the database first');
    assert.equal(stack.faults.calls('claimAll'), batches + 1, 'one batch claim');
    assert.equal(stack.faults.calls('claim'), claims, 'no member claimed on its own');
    const members = await envs().members('trio');
    assert.deepEqual(members.map((m) => m.name).sort(), ['db1', 'g1', 'g2']);
    const host = (n: string) => members.find((m) => m.name === n)!.host;
    assert.notEqual(host('g1'), host('g2'), 'members of one kind on different hosts');
    for (const name of ['db1', 'g1', 'g2']) {
      const placement = (await eventsOf(stack, name)).filter((e) => e.what === 'placement');
      assert.equal(placement.length, 1, `${name}'s placement recorded once`);
      assert.match(placement[0]!.why, new RegExp(`^${host(name)}, claimed together with 2 other members of its environment, all or nothing$`));
    }
    const placed = (await eventsOf(stack, 'trio')).find((e) => e.what === 'members placed');
    assert.ok(placed, 'the environment records where its members were placed');
    assert.match(placed.why, new RegExp(`^db1 on ${host('db1')}, g1 on ${host('g1')}, g2 on ${host('g2')}: claimed together in one transaction, all or nothing$`));
    assert.equal(placed.commandId, h.commandId);
    assert.equal((placed.data.members as unknown[]).length, 3);
    await assertConsistent(stack);
  });

  test('a member that can only share a host with its kind is placed beside it and says so; with antiAffinity the whole create is refused', async () => {
    const h = await envs().create('pair', { members: ['s1', 's2'].map((name) => ({ name, definition: small(), hint: 'hv-3' })) });
    await h.result();
    const members = await envs().members('pair');
    assert.deepEqual(members.map((m) => m.host), ['hv-3', 'hv-3']);
    const beside = (await eventsOf(stack, 's2')).find((e) => e.what === 'placed on hv-3 beside its kind');
    assert.ok(beside, 's2 says it shares a host with its kind');
    assert.match(beside.why, /^placed beside a member of the same kind of its environment: no other host fits \(.*excluded by anti-affinity/);
    assert.equal((await eventsOf(stack, 's1')).some((e) => /beside its kind/.test(e.what)), false);
    const placed = (await eventsOf(stack, 'pair')).find((e) => e.what === 'members placed')!;
    assert.match(placed.why, /s2 placed beside a member of the same kind/);

    // Hinted at a host with room for both, so that only anti-affinity can refuse them (the earlier
    // members' hosts depend on the placer's seed).
    const free = (h: { allowance: { cpus: number }; used: { cpus: number } }) => h.allowance.cpus - h.used.cpus;
    const roomiest = (await stack.services.registry.hostSnapshot()).sort((a, b) => free(b) - free(a))[0]!;
    assert.ok(free(roomiest) >= 2, `${roomiest.name} has room for two small members`);
    const before = await snapshotCluster(stack);
    const strict = await envs().create('apart', { antiAffinity: true, members: ['a1', 'a2'].map((name) => ({ name, definition: small(), hint: roomiest.name })) });
    await assert.rejects(strict.result(), (err: unknown) => err instanceof NoCapacityError && err.container === 'a2' && /excluded by anti-affinity/.test(err.message));
    await nothingLeftOf(stack, 'apart', ['a1', 'a2']);
    assert.deepEqual(await snapshotCluster(stack), before);
  });

  test('a member whose build fails after the batch claim undoes the whole create and releases every claim', async () => {
    const before = await snapshotCluster(stack);
    await stack.sim.admin.addFailure({ operation: 'provision', vm: 'f3', message: 'injected provision failure of f3' });
    const h = await envs().create('fragile', { members: ['f1', 'f2', 'f3'].map((name) => ({ name, definition: small() })) });
    await assert.rejects(h.result(), /injected provision failure of f3/);
    await nothingLeftOf(stack, 'fragile', ['f1', 'f2', 'f3']);
    assert.deepEqual(await snapshotCluster(stack), before);
    await assertConsistent(stack);
  });

  test('members are checked before anything starts: a name given twice, a taken name', async () => {
    await assert.rejects(envs().create('dup', { members: [{ name: 'd1', definition: small() }, { name: 'd1', definition: small() }] }), /members\[1\]\.name.*d1 is named twice/);
    await assert.rejects(envs().create('dup', { members: [{ name: 'g1', definition: small() }] }), /key name:g1 is already owned by g1/);
    await assert.rejects(envs().create('dup', { members: [{ name: 'd2', definition: { ...small(), cpus: 0 } }] }), /cpus/);
    assert.equal(await stack.services.registry.findByName('dup'), undefined);
  });
});

describe('environment members placed all or nothing across a killed worker', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1', cpus: 4 }, { name: 'hv-2', cpus: 4 }], workerProcess: true });
  });
  after(async () => stack?.stop());
  afterEach(async () => {
    await stack.sim.admin.clearFailures();
    await stack.sim.admin.setDelays({ provision: null });
  });

  async function killAfterTheBatchClaim(members: number): Promise<void> {
    await eventually(async () => (await placeholders(stack)).length === members || undefined, 60_000, 'the batch claim');
    await stack.killWorker();
    await stack.startWorker();
  }

  test('a worker killed after the batch claim: the create completes whole on the next worker', async () => {
    await stack.sim.admin.setDelays({ provision: 2000 });
    const h = await stack.client.environments.create('survivor', { members: ['k1', 'k2', 'k3'].map((name) => ({ name, definition: small() })) });
    await killAfterTheBatchClaim(3);
    const r = await h.result();
    assert.deepEqual([...(r.created ?? [])].sort(), ['k1', 'k2', 'k3']);
    assert.deepEqual((await stack.client.environments.members('survivor')).map((m) => m.state), ['running', 'running', 'running']);
    await assertConsistent(stack);
    assert.deepEqual(await findViolations(stack), []);
  });

  test('a worker killed after the batch claim, then a member fails: every claim is released', async () => {
    const before = await snapshotCluster(stack);
    await stack.sim.admin.setDelays({ provision: 2000 });
    await stack.sim.admin.addFailure({ operation: 'provision', vm: 'x3', message: 'injected provision failure of x3' });
    const h = await stack.client.environments.create('doomed', { members: ['x1', 'x2', 'x3'].map((name) => ({ name, definition: small() })) });
    await killAfterTheBatchClaim(3);
    await assert.rejects(h.result(), /injected provision failure of x3/);
    await nothingLeftOf(stack, 'doomed', ['x1', 'x2', 'x3']);
    assert.deepEqual(await snapshotCluster(stack), before);
    assert.deepEqual(await findViolations(stack), []);
  });
});
