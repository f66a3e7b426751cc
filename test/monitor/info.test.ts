// Agent (per host) and controller information through the client.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { TASK_QUEUE } from '../../src/domain/names';
import { eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 2, memoryMiB: 2048, diskGiB: 20 };

describe('agent and controller information', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }] });
  });
  after(async () => stack?.stop());

  test('a host shows its last contact, usage, commands in flight and recent failures', async () => {
    await (await stack.client.containers.create('i1', { definition: web, hint: 'hv-1' })).result();
    await stack.client.temporal.workflow.execute('monitorCycle', {
      taskQueue: TASK_QUEUE,
      workflowId: `test-monitor-${randomUUID()}`,
      args: [{ downAfter: 3, contactEverySeconds: 60, pollTimeoutMs: 2000 }],
    });
    await stack.sim.admin.setDelays({ stop: 3000 });
    const slow = await stack.client.containers.stop('i1');
    await eventually(async () => /stop on hv-1/.test((await slow.progress()).step), 20_000, 'the stop to reach the host');
    const busy = await eventually(async () => {
      const info = await stack.client.info.host('hv-1');
      return info.commandsInFlight.some((c) => c.workflowId === slow.workflowId) ? info : undefined;
    }, 20_000, 'the stop to show as in flight');
    assert.ok(busy.lastContact);
    assert.deepEqual(busy.claimed, { cpus: 2, memoryMiB: 2048, diskGiB: 20 });
    assert.equal(busy.containers, 1);
    assert.ok(busy.free && busy.free.memoryMiB <= 16384 - 2048, 'the host reports the running VM’s memory as used');
    await slow.result();
    await stack.sim.admin.setDelays({ stop: null });

    await stack.sim.admin.addFailure({ operation: 'start', times: 1, message: 'injected' });
    await assert.rejects((await stack.client.containers.start('i1')).result());
    const after = await eventually(async () => {
      const info = await stack.client.info.host('hv-1');
      return info.recentFailures.length ? info : undefined;
    }, 20_000, 'the failed start to be visible');
    assert.equal(after.recentFailures[0]!.type, 'startContainer');
  });

  test('the controller counts commands by outcome and reports their durations', async () => {
    const info = await eventually(async () => {
      const i = await stack.client.info.controller();
      const start = i.commands.find((c) => c.type === 'startContainer')!;
      return start.failed >= 1 ? i : undefined;
    }, 20_000, 'visibility to catch up');
    const create = info.commands.find((c) => c.type === 'createContainer')!;
    assert.ok(create.completed >= 1);
    assert.ok(create.durations && create.durations.p50 > 0 && create.durations.max >= create.durations.p50);
    const stop = info.commands.find((c) => c.type === 'stopContainer')!;
    assert.ok(stop.completed >= 1 && stop.durations!.max >= 3, 'the slow stop took at least its 3 s');
  });
});
