// The addHypervisor workflow on a real Temporal dev server: bundle, worker, client, activities
// and registry in one chain.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError, unwrapError } from '../../src/domain/errors';
import { TASK_QUEUE } from '../../src/domain/names';
import { META } from '../../src/domain/types';
import { startStack, type Stack } from '../support/stack';

const capacity = { cpus: 8, memoryMiB: 16384, diskGiB: 500 };

describe('addHypervisor workflow', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => stack?.stop());

  test('registers a reachable host as up, with what its probe saw', async () => {
    await stack.sim.admin.addHost({ id: 'hv-a', ...capacity });
    const node = await stack.client.hypervisors.add('hv-a', { driver: 'sim', address: stack.sim.hostAddress('hv-a'), capacity });
    assert.equal(node.state, 'up');
    assert.deepEqual(node.metadata[META.free], capacity);
    assert.ok(node.metadata[META.lastContact]);
    assert.deepEqual((await stack.client.hypervisors.get('hv-a')).keys, ['name:hv-a']);
  });

  test('registers a host that does not answer as down, with the reason', async () => {
    const node = await stack.client.hypervisors.add('hv-gone', { driver: 'sim', address: stack.sim.hostAddress('hv-gone'), capacity });
    assert.equal(node.state, 'down');
    assert.match(String(node.metadata[META.stateCause]), /hv-gone/);
  });

  test('a definition the provisioner refuses fails the workflow with every bad field, and writes nothing', async () => {
    const before = await stack.services.registry.count();
    const err = await stack.client.temporal.workflow
      .execute('addHypervisor', {
        taskQueue: TASK_QUEUE,
        workflowId: `hypervisor/bad/add/${randomUUID()}`,
        args: [{ name: 'bad', definition: { driver: 'xen', address: '', capacity: { cpus: -1, memoryMiB: 0, diskGiB: 1 } } }],
      })
      .then(
        () => assert.fail('must fail'),
        (e) => unwrapError(e),
      );
    assert.ok(err instanceof InvalidInputError, String(err));
    assert.deepEqual(err.problems.map((p) => p.field).sort(), ['address', 'capacity.cpus', 'capacity.memoryMiB', 'driver']);
    assert.equal(await stack.services.registry.count(), before);
  });

  test('the client refuses the same before anything is sent', async () => {
    await assert.rejects(
      stack.client.hypervisors.add('bad', { driver: 'sim', address: 'x', capacity: { cpus: 0, memoryMiB: 1, diskGiB: 1 } }),
      (e) => e instanceof InvalidInputError && /capacity.cpus/.test(e.message),
    );
    assert.equal(await stack.services.registry.findByName('bad'), undefined);
  });
});
