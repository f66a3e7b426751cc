// Faults in sequences never lose a VM: a worker killed mid-step and status reads failing when the
// next worker starts still end with the registry where the VM is; a VM that is not where the
// registry says is flagged and found, never destroyed as a "stale copy" on a guess; an undo that
// cannot finish leaves the container `unknown` until the monitor settles it.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { CollectorOptions, MonitorOptions } from '../../workflows/monitor';
import { collectorCycle, monitorCycle } from '../support/cycles';
import { assertConsistent, eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
const MONITOR: MonitorOptions = { downAfter: 3, contactEverySeconds: 60, pollTimeoutMs: 5000 };
const COLLECT: CollectorOptions = { claimTtlSeconds: 900, orphanGraceSeconds: 3600 };

describe('never lose a VM', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }], workerProcess: true });
  });
  after(async () => stack?.stop());
  afterEach(async () => {
    await stack.sim.admin.clearFailures();
    await stack.sim.admin.setDelays({ provision: null, migrate: null, clone: null });
  });

  const monitor = () => monitorCycle(stack, MONITOR);
  const collect = () => collectorCycle(stack, COLLECT);
  const hostOf = async (name: string) => {
    const c = await stack.client.containers.get(name);
    return c.parentId ? (await stack.services.registry.get(c.parentId)).name : undefined;
  };
  const whereIs = async (name: string) => (await stack.sim.admin.vms()).filter((v) => v.name === name).map((v) => v.host).sort();
  /** The next status read of `name` on each host fails: what a new worker meets first. */
  const statusReadsFail = async (name: string, hosts: string[]) => {
    for (const host of hosts) await stack.sim.admin.addFailure({ operation: 'containerStatus', host, vm: name, times: 1, message: `status read of ${name} on ${host} failed` });
  };
  /** Kills the worker while `step` runs and the sim finishes the operation; the next worker meets failing status reads. */
  async function killDuring(handle: { progress(): Promise<{ step: string }> }, step: RegExp, done: () => Promise<boolean>, name: string, hosts: string[], opOn = name) {
    await eventually(async () => step.test((await handle.progress()).step), 30_000, `step ${step}`);
    // The host is at work on it (not merely about to be asked) when the worker dies.
    await eventually(async () => (await stack.sim.admin.ops()).some((op) => op.vm === opOn && !op.done), 30_000, `the sim to work on ${opOn}`);
    await stack.killWorker();
    try {
      await eventually(done, 30_000, 'the sim to finish the operation on its own');
      await statusReadsFail(name, hosts);
    } finally {
      await stack.startWorker();
    }
  }
  /** After the monitor and two collector cycles nothing moved: the VM is where the registry says. */
  async function settlesWithoutLoss(name: string, host: string) {
    await monitor();
    await collect();
    await collect();
    assert.deepEqual(await whereIs(name), [host], `${name} exists exactly once, on ${host}`);
    assert.equal(await hostOf(name), host);
    await assertConsistent(stack);
  }

  for (const cold of [false, true]) {
    test(`a ${cold ? 'cold' : 'live'} migration whose worker dies mid-copy, with status reads failing on restart, ends where the VM is`, async () => {
      const name = cold ? 'cold-c1' : 'live-c1';
      await (await stack.client.containers.create(name, { definition: web, hint: 'hv-2', start: !cold })).result();
      await stack.sim.admin.setDelays({ migrate: 3000 });
      const h = await stack.client.containers.migrate(name, { target: 'hv-1' });
      await killDuring(h, /migrate hv-2/, async () => (await whereIs(name)).join() === 'hv-1', name, ['hv-1', 'hv-2']);
      const r = await h.result();
      assert.equal(r.host, 'hv-1');
      await settlesWithoutLoss(name, 'hv-1');
      assert.equal((await stack.client.containers.get(name)).state, cold ? 'stopped' : 'running');
      if (!cold) assert.equal((await (await stack.client.containers.stop(name)).result()).state, 'stopped');
    });
  }

  test('a clone whose worker dies mid-copy, with status reads failing on restart, completes once', async () => {
    await (await stack.client.containers.create('src-c2', { definition: web, hint: 'hv-1', start: false })).result();
    await stack.sim.admin.setDelays({ clone: 3000 });
    const h = await stack.client.containers.clone('src-c2', { name: 'copy-c2', hint: 'hv-3' });
    await killDuring(h, /copy to hv-3/, async () => (await whereIs('copy-c2')).join() === 'hv-3' && !(await stack.sim.admin.vm('hv-3', 'copy-c2'))?.busyWith, 'copy-c2', ['hv-3'], 'src-c2');
    await h.result();
    await settlesWithoutLoss('copy-c2', 'hv-3');
    await settlesWithoutLoss('src-c2', 'hv-1');
  });

  test('a create whose worker dies mid-build, with status reads failing on restart, completes once', async () => {
    await stack.sim.admin.setDelays({ provision: 3000 });
    const h = await stack.client.containers.create('new-c3', { definition: web, hint: 'hv-3' });
    await killDuring(h, /— provision/, async () => (await stack.sim.admin.vm('hv-3', 'new-c3'))?.provisioned === true, 'new-c3', ['hv-3']);
    assert.equal((await h.result()).state, 'running');
    await settlesWithoutLoss('new-c3', 'hv-3');
  });

  test('stop on a VM that is not on its host fails naming host and container; the monitor flags it missing and adopts it where it turns up', async () => {
    await (await stack.client.containers.create('gone-c4', { definition: web, hint: 'hv-1' })).result();
    await stack.sim.admin.removeVm('hv-1', 'gone-c4');
    const stop = await stack.client.containers.stop('gone-c4');
    await assert.rejects(stop.result(), (err: Error & { host?: string; container?: string }) => {
      assert.equal(err.name, 'VmMissingError');
      assert.equal(err.host, 'hv-1');
      assert.equal(err.container, 'gone-c4');
      return true;
    });
    assert.equal((await stack.client.containers.get('gone-c4')).state, 'running', 'a failed stop changes nothing');
    const r = await monitor();
    assert.equal(r.missing, 1);
    const missing = await stack.client.containers.get('gone-c4');
    assert.equal(missing.state, 'missing');
    assert.match(String(missing.metadata['vmflow.stateCause']), /hv-1 answers but has no VM gone-c4/);
    await assert.rejects(async () => (await stack.client.containers.start('gone-c4')).result(), /reconcile it \(or destroy it\) first/);
    // It turns up on hv-2 (moved behind vmflow's back): the registry follows it there.
    await stack.sim.admin.addVm('hv-2', { name: 'gone-c4', cpus: 1, memoryMiB: 1024, diskGiB: 10, state: 'running' });
    const r2 = await monitor();
    assert.equal(r2.adopted, 1);
    const found = await stack.client.containers.get('gone-c4');
    assert.equal(found.state, 'running');
    assert.equal(await hostOf('gone-c4'), 'hv-2');
    const [event] = await stack.services.registry.events(found.id, 1);
    assert.match(event!.why, /gone-c4 found on hv-2, registry said hv-1/);
    await eventually(async () => (await (await stack.client.containers.stop('gone-c4')).result()).state === 'stopped', 20_000, 'stop after adoption');
    await assertConsistent(stack);
  });

  test('the collector never destroys the only copy: a VM whose registered host lacks it is adopted, not collected', async () => {
    await (await stack.client.containers.create('moved-c5', { definition: web, hint: 'hv-1' })).result();
    await stack.sim.admin.removeVm('hv-1', 'moved-c5');
    await stack.sim.admin.addVm('hv-3', { name: 'moved-c5', cpus: 1, memoryMiB: 1024, diskGiB: 10, state: 'running' });
    const c = await collect();
    assert.deepEqual(c.destroyed, []);
    assert.deepEqual(c.adopted, ['moved-c5']);
    assert.deepEqual(await whereIs('moved-c5'), ['hv-3']);
    assert.equal(await hostOf('moved-c5'), 'hv-3');
    await assertConsistent(stack);
  });

  test('a stale copy is destroyed only after the registered copy was seen alive in two cycles, with the evidence recorded', async () => {
    await (await stack.client.containers.create('dup-c6', { definition: web, hint: 'hv-1' })).result();
    await stack.sim.admin.addVm('hv-2', { name: 'dup-c6', cpus: 1, memoryMiB: 1024, diskGiB: 10, state: 'stopped' });
    // While the registered host does not answer, nothing is proven.
    await stack.sim.admin.addFailure({ operation: 'containerStatus', host: 'hv-1', vm: 'dup-c6', times: 1 });
    assert.deepEqual((await collect()).destroyed, []);
    assert.deepEqual((await collect()).destroyed, [], 'one sighting is not proof');
    assert.deepEqual((await collect()).destroyed, ['dup-c6']);
    assert.deepEqual(await whereIs('dup-c6'), ['hv-1']);
    const hv2 = await stack.client.hypervisors.get('hv-2');
    const event = (await stack.services.registry.events(hv2.id, 10)).find((e) => e.what === 'destroyed dup-c6')!;
    assert.match(event.why, /dup-c6 lives on hv-1 \(seen there running at .*, running at .*\); this copy is stale/);
    assert.equal((event.data.confirmations as unknown[]).length, 2);
    await assertConsistent(stack);
  });

  test('an undo that cannot finish leaves the container unknown; only reconcile and destroy apply; the monitor settles it from the hosts', async () => {
    await (await stack.client.containers.create('lost-c7', { definition: web, hint: 'hv-1' })).result();
    await stack.sim.admin.removeVm('hv-1', 'lost-c7');
    const move = await stack.client.containers.migrate('lost-c7', { target: 'hv-2' });
    await assert.rejects(move.result(), (err: Error) => {
      assert.equal(err.name, 'UndoIncompleteError');
      assert.match(err.message, /lost-c7 is unknown until the monitor or a reconcile settles it/);
      return true;
    });
    const flagged = await stack.client.containers.get('lost-c7');
    assert.equal(flagged.state, 'unknown');
    assert.equal(await hostOf('lost-c7'), 'hv-1', 'it stays counted where the registry last verified it');
    assert.equal((await stack.services.registry.children((await stack.client.hypervisors.get('hv-2')).id, 'placeholder')).length, 0, 'the claim on the target is released');
    await assert.rejects(async () => (await stack.client.containers.stop('lost-c7')).result(), /cannot stop lost-c7: it is unknown/);
    // Every host answers and none has it: missing. It turns up on hv-3: adopted there.
    const r = await monitor();
    assert.equal(r.settled, 1);
    assert.equal((await stack.client.containers.get('lost-c7')).state, 'missing');
    await stack.sim.admin.addVm('hv-3', { name: 'lost-c7', cpus: 1, memoryMiB: 1024, diskGiB: 10, state: 'running' });
    await monitor();
    assert.equal((await stack.client.containers.get('lost-c7')).state, 'running');
    assert.equal(await hostOf('lost-c7'), 'hv-3');
    await assertConsistent(stack);
  });

  test('reconcile settles a flagged container on demand, and destroy removes every copy of a missing one', async () => {
    await (await stack.client.containers.create('re-c8', { definition: web, hint: 'hv-2' })).result();
    await stack.sim.admin.removeVm('hv-2', 're-c8');
    await monitor();
    assert.equal((await stack.client.containers.get('re-c8')).state, 'missing');
    await stack.sim.admin.addVm('hv-1', { name: 're-c8', cpus: 1, memoryMiB: 1024, diskGiB: 10, state: 'stopped' });
    const r = await (await stack.client.containers.reconcile('re-c8')).result();
    assert.equal(r.state, 'stopped');
    assert.equal(r.host, 'hv-1');
    await stack.sim.admin.removeVm('hv-1', 're-c8');
    await monitor();
    assert.equal((await stack.client.containers.get('re-c8')).state, 'missing');
    await (await stack.client.containers.destroy('re-c8')).result();
    assert.equal(await stack.services.registry.findByName('re-c8'), undefined);
    await assertConsistent(stack);
  });

  test('a VM whose uuid is not its namesake container\'s is an orphan: collected after the grace period, never taken for a copy', async () => {
    await (await stack.client.containers.create('reused-c9', { definition: web, hint: 'hv-1' })).result();
    // Left behind by an earlier reused-c9, destroyed while its host was down.
    await stack.sim.admin.addVm('hv-2', { name: 'reused-c9', uuid: '00000000-0000-4000-8000-00000000c0de', cpus: 1, memoryMiB: 1024, diskGiB: 10, state: 'stopped' });
    await monitor();
    const c = await collectorCycle(stack, { ...COLLECT, orphanGraceSeconds: 0 });
    assert.ok(c.destroyed.includes('reused-c9'));
    assert.deepEqual(c.adopted, []);
    assert.deepEqual(await whereIs('reused-c9'), ['hv-1']);
    assert.equal(await hostOf('reused-c9'), 'hv-1');
    const hv2 = await stack.client.hypervisors.get('hv-2');
    const event = (await stack.services.registry.events(hv2.id, 10)).find((e) => e.what === 'destroyed reused-c9')!;
    assert.match(event.why, /known to nobody: its uuid 00000000-0000-4000-8000-00000000c0de is not that of reused-c9/);
    await assertConsistent(stack);
  });
});
