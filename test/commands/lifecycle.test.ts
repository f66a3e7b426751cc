// Every container command's happy path, on a real Temporal dev server, a real sim process and a
// SQLite registry, checked against both the registry and the sim's own state.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertConsistent } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

describe('container commands, happy paths', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }] });
  });
  after(async () => stack?.stop());

  const vm = (host: string, name: string) => stack.sim.admin.vm(host, name);
  /** A VM that was defined and never started is powered off too. */
  const power = async (host: string, name: string) => {
    const state = (await vm(host, name))?.state;
    return state === 'defined' ? 'stopped' : state;
  };

  test('create places a running container on a host, with allocated ip and mac keys', async () => {
    const h = await stack.client.containers.create('web1', { definition: web });
    const r = await h.result();
    assert.equal(r.state, 'running');
    const node = await stack.client.containers.get('web1');
    assert.equal(node.state, 'running');
    const host = await stack.client.hypervisors.get(r.host!);
    assert.equal(node.parentId, host.id);
    assert.match(node.definition.network.ip, /^10\.0\.\d+\.\d+$/);
    assert.equal((await stack.client.nodes.owner(`ip:${node.definition.network.ip}`)).name, 'web1');
    assert.equal((await vm(host.name, 'web1'))?.state, 'running');
    await assertConsistent(stack);
  });

  test('create with start=false leaves it stopped; the hint picks the host', async () => {
    const r = await (await stack.client.containers.create('db1', { definition: { ...web, kind: 'db' }, hint: 'hv-3', start: false })).result();
    assert.equal(r.host, 'hv-3');
    assert.equal((await stack.client.containers.get('db1')).state, 'stopped');
    assert.equal(await power('hv-3', 'db1'), 'stopped');
  });

  test('stop, start, suspend, resume, reboot, shutdown follow the host', async () => {
    const host = (await stack.client.containers.create('app1', { definition: web, hint: 'hv-2' })).result();
    assert.equal((await host).host, 'hv-2');
    for (const [cmd, registryState, simState] of [
      ['suspend', 'suspended', 'suspended'],
      ['resume', 'running', 'running'],
      ['reboot', 'running', 'running'],
      ['stop', 'stopped', 'stopped'],
      ['start', 'running', 'running'],
      ['shutdown', 'stopped', 'stopped'],
    ] as const) {
      const r = await (await (stack.client.containers[cmd] as (n: string) => Promise<any>).call(stack.client.containers, 'app1')).result();
      assert.equal(r.state, registryState, cmd);
      assert.equal((await stack.client.containers.get('app1')).state, registryState, cmd);
      assert.equal(await power('hv-2', 'app1'), simState, cmd);
    }
    await assertConsistent(stack);
  });

  test('update changes the definition of a stopped container on the registry and the host', async () => {
    const r = await (await stack.client.containers.update('app1', { definition: { cpus: 2, memoryMiB: 2048 } })).result();
    assert.equal(r.state, 'stopped');
    const node = await stack.client.containers.get('app1');
    assert.equal(node.definition.cpus, 2);
    assert.equal(node.definition.memoryMiB, 2048);
    const seen = await vm('hv-2', 'app1');
    assert.equal(seen?.cpus, 2);
    assert.equal(seen?.memoryMiB, 2048);
    await assertConsistent(stack);
  });

  test('clone copies a stopped container under a new name with its own ip and mac', async () => {
    const r = await (await stack.client.containers.clone('app1', { name: 'app2' })).result();
    assert.equal(r.created?.name, 'app2');
    const [a, b] = await Promise.all([stack.client.containers.get('app1'), stack.client.containers.get('app2')]);
    assert.notEqual(a.definition.network.ip, b.definition.network.ip);
    assert.notEqual(a.definition.network.mac, b.definition.network.mac);
    assert.equal(b.state, 'stopped');
    assert.equal(await power(r.created!.host, 'app2'), 'stopped');
    await assertConsistent(stack);
  });

  test('migrate moves a running container live and a stopped one cold', async () => {
    // Placement is seeded by the command id: web1 is wherever its create put it; move it elsewhere.
    const from = (await stack.services.registry.get((await stack.client.containers.get('web1')).parentId!)).name;
    const to = from === 'hv-3' ? 'hv-1' : 'hv-3';
    const live = await (await stack.client.containers.migrate('web1', { target: to })).result();
    assert.equal(live.host, to);
    assert.equal((await vm(to, 'web1'))?.state, 'running');
    assert.deepEqual((await stack.sim.admin.vms()).filter((v) => v.name === 'web1').map((v) => v.host), [to]);
    const cold = await (await stack.client.containers.migrate('app1')).result();
    assert.notEqual(cold.host, 'hv-2');
    assert.equal(await power(cold.host!, 'app1'), 'stopped');
    assert.equal(await vm('hv-2', 'app1'), undefined);
    const node = await stack.client.containers.get('app1');
    assert.equal(node.parentId, (await stack.client.hypervisors.get(cold.host!)).id);
    await assertConsistent(stack);
  });

  test('destroy removes the VM, the registry node and frees its keys', async () => {
    const node = await stack.client.containers.get('app2');
    const r = await (await stack.client.containers.destroy('app2')).result();
    assert.equal(r.state, 'destroyed');
    assert.equal(await stack.services.registry.findByName('app2'), undefined);
    assert.equal(await stack.services.registry.findByKey(`ip:${node.definition.network.ip}`), undefined);
    assert.equal((await stack.sim.admin.vms()).some((v) => v.name === 'app2'), false);
    await assertConsistent(stack);
  });
});
