// Changing what a pending command will do: a migration's target until it has claimed capacity,
// and the order of what is queued.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError } from '../../src/domain/errors';
import { assertConsistent, eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

describe('modify and reorder', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }] });
    await (await stack.client.containers.create('m1', { definition: web, hint: 'hv-1' })).result();
  });
  after(async () => stack?.stop());

  test('a queued migration takes a new target; once it has claimed capacity it refuses one', async () => {
    await stack.sim.admin.setDelays({ reboot: 2000, migrate: 2000 });
    const reboot = await stack.client.containers.reboot('m1');
    const migrate = await stack.client.containers.migrate('m1', { target: 'hv-2' });
    assert.equal((await migrate.progress()).phase, 'queued');
    assert.deepEqual(await migrate.modify({ target: 'hv-3' }), { target: 'hv-3' });
    await reboot.result();
    await eventually(async () => /migrate hv-1/.test((await migrate.progress()).step), 20_000, 'the move to start');
    await assert.rejects(migrate.modify({ target: 'hv-2' }), /already claimed capacity on hv-3/);
    const r = await migrate.result();
    assert.equal(r.host, 'hv-3');
    assert.equal((await stack.sim.admin.vm('hv-3', 'm1'))?.state, 'running');
    await stack.sim.admin.setDelays({ reboot: null, migrate: null });
    await assertConsistent(stack);
  });

  test('a queued command can be moved ahead of others; an order that cannot run is refused', async () => {
    await stack.sim.admin.setDelays({ reboot: 1500 });
    const running = await stack.client.containers.reboot('m1');
    const suspend = await stack.client.containers.suspend('m1');
    const resume = await stack.client.containers.resume('m1');
    const reboot = await stack.client.containers.reboot('m1');
    // resume first would run from `running`: refused, and the queue stays as it was.
    await assert.rejects(stack.client.commands.reorder('m1', resume.commandId, 0), (e) => e instanceof InvalidInputError || /cannot resume m1: it is running/.test(String(e)));
    const order = await stack.client.commands.reorder('m1', reboot.commandId, 0);
    assert.deepEqual(order, [running.commandId, reboot.commandId, suspend.commandId, resume.commandId], 'the running command stays first');
    await running.result();
    const rebooted = await reboot.result();
    const suspended = await suspend.result();
    assert.equal(rebooted.state, 'running');
    assert.equal(suspended.state, 'suspended');
    assert.equal((await resume.result()).state, 'running');
    const closed = async (h: { workflowId: string }) => (await stack.client.temporal.workflow.getHandle(h.workflowId).describe()).closeTime!.getTime();
    assert.ok((await closed(reboot)) <= (await closed(suspend)), 'the moved reboot ran before the suspend');
    await stack.sim.admin.setDelays({ reboot: null });
    await assertConsistent(stack);
  });

  test('a reorder is checked in the order it is applied: after the running command, which changes the state', async () => {
    await (await stack.client.containers.stop('m1')).result();
    await stack.sim.admin.setDelays({ start: 1500 });
    const running = await stack.client.containers.start('m1');
    const stop = await stack.client.containers.stop('m1');
    const start = await stack.client.containers.start('m1');
    const reboot = await stack.client.containers.reboot('m1');
    // Position 0 is next, after the running start: the reboot runs from `running` and is accepted.
    const order = await stack.client.commands.reorder('m1', reboot.commandId, 0);
    assert.deepEqual(order, [running.commandId, reboot.commandId, stop.commandId, start.commandId]);
    // The start next would run from `running`: refused, naming the command and the state.
    await assert.rejects(stack.client.commands.reorder('m1', start.commandId, 1), (e: Error) => {
      assert.match(e.message, /cannot start m1: it is running/);
      return true;
    });
    await assert.rejects(stack.client.commands.reorder('m1', running.commandId, 3), /already running on m1: it can no longer move/);
    assert.deepEqual(
      (await stack.client.commands.queue('m1'))?.queue.map((q) => q.commandId),
      [running.commandId, reboot.commandId, stop.commandId, start.commandId],
      'a refused reorder changes nothing',
    );
    assert.equal((await running.result()).state, 'running');
    assert.equal((await reboot.result()).state, 'running');
    assert.equal((await stop.result()).state, 'stopped');
    assert.equal((await start.result()).state, 'running');
    const closed = async (h: { workflowId: string }) => (await stack.client.temporal.workflow.getHandle(h.workflowId).describe()).closeTime!.getTime();
    assert.ok((await closed(reboot)) <= (await closed(stop)), 'the moved reboot ran before the stop');
    await stack.sim.admin.setDelays({ start: null });
    await assertConsistent(stack);
  });

  test('after a reorder, new commands are checked against the state the new order leads to', async () => {
    await stack.sim.admin.setDelays({ reboot: 1500 });
    const running = await stack.client.containers.reboot('m1');
    const reconcile = await stack.client.containers.reconcile('m1');
    const stop = await stack.client.containers.stop('m1');
    // The reconcile keeps whatever state it runs from: moved last, the queue now ends stopped.
    assert.deepEqual(await stack.client.commands.reorder('m1', reconcile.commandId, 10), [running.commandId, stop.commandId, reconcile.commandId]);
    await assert.rejects(stack.client.containers.suspend('m1'), /cannot suspend m1: it is stopped/);
    const start = await stack.client.containers.start('m1');
    await running.result();
    assert.equal((await stop.result()).state, 'stopped');
    await reconcile.result();
    assert.equal((await start.result()).state, 'running');
    await stack.sim.admin.setDelays({ reboot: null });
    await assertConsistent(stack);
  });
});
