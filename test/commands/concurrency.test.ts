// Many commands at once: placement never overfills a host, and commands on one container run
// one at a time in the order they were accepted.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NoCapacityError } from '../../src/domain/errors';
import { assertConsistent } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

describe('concurrency', () => {
  let stack: Stack;
  before(async () => {
    // Exactly 40 slots of 1 cpu / 1 GiB: 10 + 10 + 20, cpu being the binding resource.
    stack = await startStack({
      hosts: [
        { name: 'hv-1', cpus: 10, memoryMiB: 20480, diskGiB: 1000 },
        { name: 'hv-2', cpus: 10, memoryMiB: 20480, diskGiB: 1000 },
        { name: 'hv-3', cpus: 20, memoryMiB: 40960, diskGiB: 1000 },
      ],
    });
  });
  after(async () => stack?.stop());

  test('40 concurrent creates onto 40 slots all land, no host over capacity; one more is refused with reasons', async () => {
    const def = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
    const handles = await Promise.all(Array.from({ length: 40 }, (_, i) => stack.client.containers.create(`w${i}`, { definition: def })));
    const results = await Promise.allSettled(handles.map((h) => h.result()));
    const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    assert.deepEqual(failed, []);
    const perHost = new Map<string, number>();
    for (const r of results) if (r.status === 'fulfilled') perHost.set(r.value.host!, (perHost.get(r.value.host!) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries([...perHost].sort()), { 'hv-1': 10, 'hv-2': 10, 'hv-3': 20 });
    await assertConsistent(stack);

    const extra = await stack.client.containers.create('w40', { definition: def });
    const err = await extra.result().then(
      () => assert.fail('the 41st create must be refused'),
      (e) => e,
    );
    assert.ok(err instanceof NoCapacityError, String(err));
    assert.deepEqual(err.reasons, { 'full on cpu': 3 });
    assert.match(err.message, /no capacity for w40: 3 hosts full on cpu/);
    assert.equal(await stack.services.registry.findByName('w40'), undefined);
    await assertConsistent(stack);
  });

  test('commands sent to one container in quick succession run one at a time, in order', async () => {
    await stack.sim.admin.setDelays({ stop: 300, start: 300, suspend: 300, resume: 300 });
    const c = stack.client.containers;
    const sequence = [() => c.stop('w0'), () => c.start('w0'), () => c.suspend('w0'), () => c.resume('w0'), () => c.stop('w0'), () => c.start('w0')];
    const handles = [];
    // Each is accepted before the next is sent; none waits for the one before it to run.
    for (const send of sequence) handles.push(await send());
    assert.ok((await handles[5]!.progress()).phase === 'queued', 'the last command should still be queued when sent');
    const results = await Promise.all(handles.map((h) => h.result()));
    assert.deepEqual(results.map((r) => r.state), ['stopped', 'running', 'suspended', 'running', 'stopped', 'running']);
    const runs = await Promise.all(
      handles.map(async (h) => {
        const wf = stack.client.temporal.workflow.getHandle(h.workflowId);
        const history = await wf.fetchHistory();
        // A command with nothing ahead of it runs at once; the others wait for a `turn` signal.
        const turn = history.events!.find((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'turn') ?? history.events![0]!;
        const { closeTime } = await wf.describe();
        return { turnAt: Number(turn.eventTime!.seconds) * 1000 + Math.floor((turn.eventTime!.nanos ?? 0) / 1e6), closedAt: closeTime!.getTime() };
      }),
    );
    for (let i = 1; i < runs.length; i++) {
      // Each got its turn only after the one before it had closed.
      assert.ok(runs[i]!.turnAt >= runs[i - 1]!.closedAt, `command ${i} started before command ${i - 1} ended`);
    }
    await stack.sim.admin.setDelays({ stop: null, start: null, suspend: null, resume: null });
    await assertConsistent(stack);
  });
});
