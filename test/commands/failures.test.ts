// A failure injected at each step of create, clone and migrate: the command fails cleanly —
// no placeholder or half-built VM remains, every container is on exactly one host, keys and
// capacity are as before.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { assertConsistent, snapshotCluster } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

describe('failure at any step leaves the cluster as it was', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }] });
    await (await stack.client.containers.create('src1', { definition: web, hint: 'hv-1', start: false })).result();
    await (await stack.client.containers.create('mig1', { definition: web, hint: 'hv-1' })).result();
    await (await stack.client.containers.create('cold1', { definition: web, hint: 'hv-1', start: false })).result();
  });
  after(async () => stack?.stop());
  afterEach(async () => {
    stack.faults.clear();
    await stack.sim.admin.clearFailures();
  });

  type Inject = () => Promise<unknown> | void;
  const simFails = (operation: string): Inject => () => stack.sim.admin.addFailure({ operation, times: 1, message: `injected ${operation} failure` });
  const registryFails = (method: 'add' | 'claim' | 'commitClaim'): Inject => () => stack.faults.failNext(method);

  async function failsCleanly(inject: Inject, run: () => Promise<{ result(): Promise<unknown> }>, message?: RegExp): Promise<void> {
    const before = await snapshotCluster(stack);
    await inject();
    const handle = await run();
    await assert.rejects(handle.result(), message ?? /./);
    assert.deepEqual(await snapshotCluster(stack), before);
    await assertConsistent(stack);
  }

  const createSteps: Array<[string, Inject, RegExp]> = [
    ['registering its keys', registryFails('add'), /injected fault in registry.add/],
    ['claiming capacity', registryFails('claim'), /injected fault in registry.claim/],
    ['define', simFails('define'), /injected define failure/],
    ['provision', simFails('provision'), /injected provision failure/],
    ['start', simFails('start'), /injected start failure/],
    ['commit', registryFails('commitClaim'), /injected fault in registry.commitClaim/],
  ];
  createSteps.forEach(([step, inject, message], i) => {
    test(`create fails cleanly when ${step} fails`, () => failsCleanly(inject, () => stack.client.containers.create(`new${i}`, { definition: web }), message));
  });

  const cloneSteps: Array<[string, Inject, RegExp]> = [
    ['registering its keys', registryFails('add'), /injected fault/],
    ['claiming capacity', registryFails('claim'), /injected fault/],
    ['copy', simFails('clone'), /injected clone failure/],
    ['commit', registryFails('commitClaim'), /injected fault/],
  ];
  cloneSteps.forEach(([step, inject, message], i) => {
    test(`clone fails cleanly when ${step} fails`, () => failsCleanly(inject, () => stack.client.containers.clone('src1', { name: `copy${i}` }), message));
  });

  const migrateSteps: Array<[string, Inject, RegExp]> = [
    ['claiming capacity', registryFails('claim'), /injected fault/],
    ['the move', simFails('migrate'), /injected migrate failure/],
    ['commit', registryFails('commitClaim'), /injected fault/],
  ];
  for (const name of ['mig1', 'cold1']) {
    for (const [step, inject, message] of migrateSteps) {
      test(`${name === 'mig1' ? 'live' : 'cold'} migrate fails cleanly when ${step} fails`, () =>
        failsCleanly(inject, () => stack.client.containers.migrate(name, { target: 'hv-2' }), message));
    }
  }

  test('the containers are still usable after all that', async () => {
    const r = await (await stack.client.containers.migrate('mig1', { target: 'hv-2' })).result();
    assert.equal(r.host, 'hv-2');
    await assertConsistent(stack);
  });
});
