// Environment commands survive a killed worker, and kinds hear when the controller starts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SimDriver } from '../../src/drivers/sim';
import { UPSTREAM_PATH, upstreamAddresses } from '../../src/hooks/nginx';
import { assertConsistent, eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

describe('environments across crashes and controller events', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }], workerProcess: true });
    await (await stack.client.environments.create('app')).result();
    await (await stack.client.environments.add('app', { create: { name: 'a-web1', definition: web } })).result();
  });
  after(async () => stack?.stop());

  test('an add whose worker is killed mid-way completes whole after a new worker starts', async () => {
    await stack.sim.admin.setDelays({ provision: 2500 });
    const h = await stack.client.environments.add('app', { create: { name: 'a-web2', definition: web } });
    await eventually(async () => /create/.test((await h.progress()).step), 30_000, 'the add to create a container');
    await stack.killWorker();
    await stack.startWorker();
    const r = await h.result();
    await stack.sim.admin.setDelays({ provision: null });
    const members = await stack.client.environments.members('app');
    assert.deepEqual(members.map((m) => m.kind).sort(), ['balancer', 'web', 'web']);
    assert.ok(r.created?.includes('a-web2'));
    await assertConsistent(stack);
  });

  test('afterControllerStart lets a balancer re-publish its upstreams', async () => {
    const lb = (await stack.client.environments.members('app')).find((m) => m.kind === 'balancer')!;
    const before = (await stack.sim.admin.vm(lb.host!, lb.name))!.configs[UPSTREAM_PATH]!;
    // Someone edits the file behind vmflow's back.
    await new SimDriver().applyConfig(stack.sim.hostRef(lb.host!), lb.name, UPSTREAM_PATH, '# tampered\n');
    assert.equal((await stack.sim.admin.vm(lb.host!, lb.name))!.configs[UPSTREAM_PATH], '# tampered\n');
    const handles = await stack.client.environments.controller('afterControllerStart');
    assert.equal(handles.length, 1);
    await Promise.all(handles.map((h) => h.result()));
    const after = (await stack.sim.admin.vm(lb.host!, lb.name))!.configs[UPSTREAM_PATH]!;
    assert.equal(after, before);
    assert.equal(upstreamAddresses(after).length, 2);
  });
});
