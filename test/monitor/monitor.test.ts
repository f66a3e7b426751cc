// The monitor and the collector on the real stack: drift, host failure and failover, rejoin,
// placeholders of killed commands, orphans, and a slow host among many.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { CollectorOptions, CollectorReport, MonitorOptions, MonitorReport } from '../../workflows/monitor';
import { entityStatusQuery } from '../../src/domain/messages';
import { TASK_QUEUE, workflowIds } from '../../src/domain/names';
import { META } from '../../src/domain/types';
import { UPSTREAM_PATH, upstreamAddresses } from '../../src/hooks/nginx';
import { assertConsistent, eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
const K = 3;
const MONITOR: MonitorOptions = { downAfter: K, contactEverySeconds: 60, pollTimeoutMs: 2000 };
const TTL = 3;

describe('monitor and collector', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }], claimTtlSeconds: TTL });
  });
  after(async () => stack?.stop());

  const monitor = (options: MonitorOptions = MONITOR): Promise<MonitorReport> =>
    stack.client.temporal.workflow.execute('monitorCycle', { taskQueue: TASK_QUEUE, workflowId: `test-monitor-${randomUUID()}`, args: [options] });
  const collect = (options: CollectorOptions): Promise<CollectorReport> =>
    stack.client.temporal.workflow.execute('collectorCycle', { taskQueue: TASK_QUEUE, workflowId: `test-collector-${randomUUID()}`, args: [options] });
  /** Waits until an environment has no command queued or running. */
  const settled = (env: string) =>
    eventually(async () => {
      const status = await stack.client.temporal.workflow.getHandle(workflowIds.environmentEntity(env)).query(entityStatusQuery);
      return status.queue.length === 0;
    }, 60_000, `environment ${env} to settle`);
  const events = async (name: string) => stack.services.registry.events((await stack.client.nodes.get(name)).id, 50);

  test('a VM stopped behind vmflow’s back shows as stopped after one cycle, with the cause recorded', async () => {
    await (await stack.client.containers.create('solo', { definition: web, hint: 'hv-3' })).result();
    await monitor();
    await stack.sim.admin.setVm('hv-3', 'solo', { state: 'stopped' });
    const report = await monitor();
    assert.equal(report.drifts, 1);
    const node = await stack.client.containers.get('solo');
    assert.equal(node.state, 'stopped');
    assert.match(String(node.metadata[META.stateCause]), /hv-3 reports it stopped; the registry had running/);
    const [event] = await events('solo');
    assert.equal(event!.what, 'state running → stopped');
    assert.equal(event!.by, 'monitor');
    // The container's entity follows: starting it again is allowed.
    assert.equal((await (await stack.client.containers.start('solo')).result()).state, 'running');
  });

  test('a quiet cycle writes nothing', async () => {
    await monitor();
    const report = await monitor();
    assert.equal(report.writes, 0);
    assert.equal(report.polled, 3);
  });

  test('a crashed host is down only after K failed cycles; then its containers are lost and the balancer is replaced elsewhere', async () => {
    await (await stack.client.environments.create('shop')).result();
    // Without a failover (policy none) they stay lost: what the environment's hooks do alone.
    await (await stack.client.environments.add('shop', { create: { name: 'web1', definition: { ...web, ha: 'none' }, hint: 'hv-1' } })).result();
    await (await stack.client.environments.add('shop', { create: { name: 'web2', definition: { ...web, ha: 'none' }, hint: 'hv-1' } })).result();
    await (await stack.client.environments.add('shop', { create: { name: 'web3', definition: web, hint: 'hv-2' } })).result();
    const lb = (await stack.client.environments.members('shop')).find((m) => m.kind === 'balancer')!;
    if (lb.host !== 'hv-1') {
      const moved = await (await stack.client.containers.migrate(lb.name, { target: 'hv-1' })).result();
      assert.equal(moved.host, 'hv-1');
    }
    await stack.sim.admin.crash('hv-1');
    for (let i = 1; i < K; i++) {
      const r = await monitor();
      assert.deepEqual(r.down, [], `cycle ${i} of ${K} must not act`);
      assert.equal((await stack.client.hypervisors.get('hv-1')).state, 'up');
      assert.equal((await stack.client.containers.get('web1')).state, 'running');
    }
    const r = await monitor();
    assert.deepEqual(r.down, ['hv-1']);
    assert.equal((await stack.client.hypervisors.get('hv-1')).state, 'down');
    for (const name of ['web1', 'web2']) assert.equal((await stack.client.containers.get(name)).state, 'lost');
    assert.equal(r.environmentsNotified, 3, 'web1, web2 and the balancer are down');
    await settled('shop');
    const fresh = (await stack.client.environments.members('shop')).find((x) => x.kind === 'balancer')!;
    assert.notEqual(fresh.name, lb.name);
    assert.equal(fresh.state, 'running');
    assert.notEqual(fresh.host, 'hv-1');
    const conf = (await stack.sim.admin.vm(fresh.host!, fresh.name))!.configs[UPSTREAM_PATH]!;
    assert.deepEqual(upstreamAddresses(conf), [(await stack.client.containers.get('web3')).definition.network.ip]);
    assert.equal((await stack.client.containers.get(lb.name)).state, 'illegal');
  });

  test('the rejoined host’s stale copies are collected; nothing registered elsewhere is touched', async () => {
    const oldLb = (await stack.client.containers.list({ state: 'illegal' }))[0]!;
    const hv1 = await stack.client.hypervisors.get('hv-1');
    const elsewhere = (await stack.sim.admin.vms()).filter((v) => v.host !== 'hv-1').map((v) => `${v.host}/${v.name}`).sort();
    await stack.sim.admin.rejoin('hv-1');
    const r = await monitor();
    assert.deepEqual(r.up, ['hv-1']);
    assert.equal((await stack.client.hypervisors.get('hv-1')).state, 'up');
    for (const name of ['web1', 'web2']) assert.equal((await stack.client.containers.get(name)).state, 'stopped', 'a host that lost power comes back with its VMs off');
    // The illegal copy goes only once its replacement has been seen alive in two collector cycles.
    const first = await collect({ claimTtlSeconds: TTL, orphanGraceSeconds: 3600 });
    assert.deepEqual(first.destroyed, []);
    assert.ok(await stack.sim.admin.vm('hv-1', oldLb.name), 'one sighting of the replacement is not proof yet');
    const c = await collect({ claimTtlSeconds: TTL, orphanGraceSeconds: 3600 });
    assert.deepEqual(c.destroyed, [oldLb.name]);
    const destroyedEvent = (await stack.services.registry.events(hv1.id, 20)).find((e) => e.what === `destroyed ${oldLb.name}`)!;
    assert.equal((destroyedEvent.data.confirmations as unknown[]).length, 2, 'the destroy records the sightings it acted on');
    assert.equal(await stack.sim.admin.vm('hv-1', oldLb.name), undefined);
    assert.equal(await stack.services.registry.find(oldLb.id), undefined);
    assert.deepEqual((await stack.sim.admin.vms()).filter((v) => v.host !== 'hv-1').map((v) => `${v.host}/${v.name}`).sort(), elsewhere);
    const used = await stack.services.registry.usage(hv1.id);
    assert.deepEqual(used, { cpus: 2, memoryMiB: 2048, diskGiB: 20 }, 'hv-1 holds exactly web1 and web2');
    const simHost = await stack.sim.admin.host('hv-1');
    assert.deepEqual(simHost.vms.map((v) => v.name).sort(), ['web1', 'web2']);
    await settled('shop');
    assert.ok((await stack.client.environments.members('shop')).every((m) => m.state !== 'lost'));
    await assertConsistent(stack);
  });

  test('a placeholder left by a killed command is gone after its time to live; a live command’s is never taken', async () => {
    await stack.sim.admin.setDelays({ provision: 8000 });
    const killed = await stack.client.containers.create('killed1', { definition: web, hint: 'hv-2' });
    const live = await stack.client.containers.create('live1', { definition: web, hint: 'hv-3' });
    await eventually(async () => /— provision/.test((await killed.progress()).step) && /— provision/.test((await live.progress()).step), 20_000, 'both provisioning');
    await stack.client.temporal.workflow.getHandle(killed.workflowId).terminate('killed by the test');
    assert.equal((await stack.client.nodes.list({ type: 'placeholder' })).length, 2);
    await new Promise((r) => setTimeout(r, (TTL + 1) * 1000));
    await monitor(); // records the half-built VM as an orphan candidate once its registry node is gone
    const c1 = await collect({ claimTtlSeconds: TTL, orphanGraceSeconds: 1 });
    assert.equal(c1.placeholdersRemoved, 1);
    assert.equal(c1.placeholdersExtended, 1, 'the live command’s placeholder is extended, not taken');
    assert.equal(c1.abandonedRemoved, 1);
    const left = await stack.client.nodes.list({ type: 'placeholder' });
    assert.deepEqual(left.map((p) => p.definition.containerName), ['live1']);
    assert.equal(await stack.services.registry.findByName('killed1'), undefined);
    assert.equal((await live.result()).state, 'running');
    await stack.sim.admin.setDelays({ provision: null });
    // The half-built VM is an orphan now: seen by the monitor, collected after the grace period.
    await monitor();
    await new Promise((r) => setTimeout(r, 1500));
    const c2 = await collect({ claimTtlSeconds: TTL, orphanGraceSeconds: 1 });
    assert.ok(c2.destroyed.includes('killed1'), JSON.stringify(c2));
    await assertConsistent(stack);
  });

  test('an unknown VM is reported, then collected after the grace period', async () => {
    await stack.sim.admin.addVm('hv-2', { name: 'stray' });
    const r = await monitor();
    assert.equal(r.orphans, 1);
    const hv2 = await stack.client.hypervisors.get('hv-2');
    assert.ok((hv2.metadata[META.orphans] as Record<string, string>).stray);
    const early = await collect({ claimTtlSeconds: TTL, orphanGraceSeconds: 3600 });
    assert.deepEqual(early.destroyed, []);
    assert.ok(await stack.sim.admin.vm('hv-2', 'stray'));
    await new Promise((r) => setTimeout(r, 1500));
    const late = await collect({ claimTtlSeconds: TTL, orphanGraceSeconds: 1 });
    assert.deepEqual(late.destroyed, ['stray']);
    assert.equal(await stack.sim.admin.vm('hv-2', 'stray'), undefined);
    const [event] = await stack.services.registry.events(hv2.id, 1);
    assert.match(event!.why, /stray is known to nobody/);
    await assertConsistent(stack);
  });
});

describe('monitor at scale', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => stack?.stop());

  test('one cycle over 200 hosts finishes, and a slow host does not stall the others', async () => {
    const capacity = { cpus: 16, memoryMiB: 32768, diskGiB: 1000 };
    for (let i = 0; i < 200; i++) {
      const id = `m-${String(i).padStart(3, '0')}`;
      await stack.sim.admin.addHost({ id, ...capacity });
      await stack.services.provisioner.provisionHypervisor({ name: id, definition: { driver: 'sim', address: stack.sim.hostAddress(id), capacity } });
    }
    await stack.sim.admin.setDelays({ hostStatus: 30_000 }, 'm-007');
    const started = Date.now();
    const r: MonitorReport = await stack.client.temporal.workflow.execute('monitorCycle', {
      taskQueue: TASK_QUEUE,
      workflowId: `test-monitor-${randomUUID()}`,
      args: [{ ...MONITOR, pollTimeoutMs: 5000 }],
    });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.hosts, 200);
    assert.equal(r.polled, 200);
    assert.equal(r.unreachable, 1, 'only the slow host missed its poll');
    assert.ok(seconds < 20, `the cycle took ${seconds} s: the slow host stalled it`);
    const slow = await stack.services.registry.getByName('m-007');
    assert.equal(slow.metadata[META.failuresInRow], 1);
    const quick = await stack.services.registry.getByName('m-008');
    assert.ok(quick.metadata[META.lastContact]);
  });

  test('a collector cycle over 450 hosts runs 3 batch activities of 200; proof and grace hold in a batch, and a silent host fails nothing', async () => {
    const capacity = { cpus: 16, memoryMiB: 32768, diskGiB: 1000 };
    for (let i = 200; (await stack.services.registry.count({ type: 'hypervisor' })) < 450; i++) {
      const id = `m-${String(i).padStart(3, '0')}`;
      await stack.sim.admin.addHost({ id, ...capacity });
      await stack.services.provisioner.provisionHypervisor({ name: id, definition: { driver: 'sim', address: stack.sim.hostAddress(id), capacity } });
    }
    await (await stack.client.containers.create('batched', { definition: web, hint: 'm-010' })).result();
    const owner = await stack.services.registry.getByName('batched');
    // A stale copy of it on another host (its uuid), an orphan on a third; m-007 still answers too late.
    await stack.sim.admin.addVm('m-300', { name: 'batched', uuid: owner.id, state: 'running' });
    await stack.sim.admin.addVm('m-400', { name: 'stray-b' });
    await stack.client.temporal.workflow.execute('monitorCycle', { taskQueue: TASK_QUEUE, workflowId: `test-monitor-${randomUUID()}`, args: [{ ...MONITOR, pollTimeoutMs: 3000 }] });
    const options: CollectorOptions = { claimTtlSeconds: 60, orphanGraceSeconds: 3600, batchSize: 200, pollTimeoutMs: 3000 };
    const collectOnce = async (o: CollectorOptions) => {
      const workflowId = `test-collector-${randomUUID()}`;
      const report: CollectorReport = await stack.client.temporal.workflow.execute('collectorCycle', { taskQueue: TASK_QUEUE, workflowId, args: [o] });
      const { events } = await stack.client.temporal.workflow.getHandle(workflowId).fetchHistory();
      const scheduled = (events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'collectBatch').length;
      const completed = (events ?? []).filter((e) => e.activityTaskCompletedEventAttributes).length;
      return { report, scheduled, completed, events: events?.length ?? 0 };
    };
    const first = await collectOnce(options);
    assert.equal(first.scheduled, 3, 'ceil(450 / 200) batch activities');
    assert.equal(first.completed, 6, 'placeholders, abandoned, the ranges and 3 batches, none failed');
    assert.deepEqual(first.report.destroyed, [], 'one sighting is not proof, and the orphan is in its grace period');
    assert.ok(await stack.sim.admin.vm('m-300', 'batched'));
    assert.ok(await stack.sim.admin.vm('m-400', 'stray-b'));
    await new Promise((r) => setTimeout(r, 1500));
    const second = await collectOnce({ ...options, orphanGraceSeconds: 1 });
    assert.deepEqual(second.report.destroyed, ['batched', 'stray-b']);
    assert.equal(await stack.sim.admin.vm('m-300', 'batched'), undefined);
    assert.ok(await stack.sim.admin.vm('m-010', 'batched'), 'the registry’s own copy is untouched');
    assert.equal(await stack.sim.admin.vm('m-400', 'stray-b'), undefined);
    const m300 = await stack.services.registry.getByName('m-300');
    const destroyedEvent = (await stack.services.registry.events(m300.id, 5)).find((e) => e.what === 'destroyed batched')!;
    assert.equal((destroyedEvent.data.confirmations as unknown[]).length, 2, 'the destroy records the two sightings it acted on');
    assert.equal((await stack.client.containers.get('batched')).state, 'running');
  });
});
