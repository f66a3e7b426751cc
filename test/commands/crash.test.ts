// Commands survive a worker killed with SIGKILL and a sim process restarted mid-command: a new
// worker picks them up and they complete with no manual action.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { assertConsistent, eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

describe('crashes mid-command', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }], workerProcess: true });
  });
  after(async () => stack?.stop());
  afterEach(async () => {
    await stack.sim.admin.setDelays({ provision: null, migrate: null });
  });

  test('a create completes after its worker is killed during the provisioning', async () => {
    await stack.sim.admin.setDelays({ provision: 3000 });
    const h = await stack.client.containers.create('k1', { definition: web });
    await eventually(async () => /— provision/.test((await h.progress()).step), 30_000, 'provision step');
    await stack.killWorker();
    await stack.startWorker();
    const r = await h.result();
    assert.equal(r.state, 'running');
    await assertConsistent(stack);
  });

  test('a live migration completes after its worker is killed mid-copy', async () => {
    const from = (await (await stack.client.containers.create('k2', { definition: web, hint: 'hv-1' })).result()).host;
    assert.equal(from, 'hv-1');
    await stack.sim.admin.setDelays({ migrate: 4000 });
    const h = await stack.client.containers.migrate('k2', { target: 'hv-2' });
    await eventually(async () => /migrate hv-1/.test((await h.progress()).step), 30_000, 'migrate step');
    await stack.killWorker();
    await stack.startWorker();
    const r = await h.result();
    assert.equal(r.host, 'hv-2');
    assert.equal((await stack.sim.admin.vm('hv-2', 'k2'))?.state, 'running');
    assert.equal(await stack.sim.admin.vm('hv-1', 'k2'), undefined);
    await assertConsistent(stack);
  });

  test('a migration completes after the sim process restarts mid-copy', async () => {
    await stack.sim.admin.setDelays({ migrate: 3000 });
    const h = await stack.client.containers.migrate('k2', { target: 'hv-1' });
    await eventually(async () => /migrate hv-2/.test((await h.progress()).step), 30_000, 'migrate step');
    await stack.sim.restart();
    const r = await h.result();
    assert.equal(r.host, 'hv-1');
    await assertConsistent(stack);
  });

  test('a create completes after the sim process restarts during the provisioning', async () => {
    await stack.sim.admin.setDelays({ provision: 3000 });
    const h = await stack.client.containers.create('k3', { definition: web });
    await eventually(async () => /— provision/.test((await h.progress()).step), 30_000, 'provision step');
    await stack.sim.restart();
    const r = await h.result();
    assert.equal(r.state, 'running');
    await assertConsistent(stack);
  });
});
