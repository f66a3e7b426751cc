// Cancel at each step of create and migrate: the command is compensated and the cluster is as
// it was; a queued command leaves the queue untouched.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { CancelledError } from '../../src/domain/errors';
import type { CommandHandle } from '../../src/client';
import { assertConsistent, eventually, snapshotCluster } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
const SLOW_MS = 4000;

describe('cancel at any step', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }] });
    await (await stack.client.containers.create('live1', { definition: web, hint: 'hv-1' })).result();
    await (await stack.client.containers.create('cold1', { definition: web, hint: 'hv-1', start: false })).result();
  });
  after(async () => stack?.stop());
  afterEach(async () => {
    stack.faults.clear();
    await stack.sim.admin.setDelays({ define: null, provision: null, start: null, migrate: null });
  });

  type Slow = () => Promise<unknown> | void;
  const simSlow = (operation: string): Slow => () => stack.sim.admin.setDelays({ [operation]: SLOW_MS });
  const registrySlow = (method: 'add' | 'claim' | 'commitClaim'): Slow => () => stack.faults.stallNext(method, 1500);

  /**
   * Starts a command with one step made slow, cancels it during that step, and checks it was
   * undone. Driver steps are seen in the command's progress; registry steps run as local
   * activities inside a workflow task, so the cancel is sent while one is stalled and lands as
   * soon as it returns.
   */
  async function cancelDuring(step: RegExp | 'registry', slow: Slow, run: () => Promise<CommandHandle>, { mayComplete = false } = {}): Promise<void> {
    const before = await snapshotCluster(stack);
    await slow();
    // A cancel sent during a registry step lands when the workflow task ends, at the next host
    // step at the latest: keep that one slow so the cancel is honoured rather than too late.
    if (step === 'registry') await stack.sim.admin.setDelays({ define: SLOW_MS, migrate: SLOW_MS });
    const handle = await run();
    if (step === 'registry') await new Promise((r) => setTimeout(r, 500));
    else await eventually(async () => step.test((await handle.progress()).step), 20_000, `step ${step}`);
    await handle.cancel();
    const outcome = await handle.result().then(
      () => 'completed',
      (err) => {
        assert.ok(err instanceof CancelledError, `expected CancelledError, got ${err}`);
        return 'cancelled';
      },
    );
    if (!mayComplete) assert.equal(outcome, 'cancelled');
    if (outcome === 'cancelled') assert.deepEqual(await snapshotCluster(stack), before);
    await assertConsistent(stack);
    const p = await handle.progress();
    assert.equal(p.phase, outcome);
  }

  const createSteps: Array<[string, RegExp | 'registry', Slow, boolean]> = [
    ['registering its keys', 'registry', registrySlow('add'), false],
    ['the claim', 'registry', registrySlow('claim'), false],
    ['define', /— define/, simSlow('define'), false],
    ['provision', /— provision/, simSlow('provision'), false],
    ['start', /— start/, simSlow('start'), false],
    // A cancel that arrives while the commit is being written comes too late: the command completes.
    ['the commit', 'registry', registrySlow('commitClaim'), true],
  ];
  createSteps.forEach(([name, step, slow, mayComplete], i) => {
    test(`cancelling create during ${name} undoes it`, () => cancelDuring(step, slow, () => stack.client.containers.create(`c${i}`, { definition: web }), { mayComplete }));
  });

  for (const name of ['live1', 'cold1']) {
    const migrateSteps: Array<[string, RegExp | 'registry', Slow, boolean]> = [
      ['the claim', 'registry', registrySlow('claim'), false],
      ['the move', /migrate hv-\d/, simSlow('migrate'), false],
      ['the commit', 'registry', registrySlow('commitClaim'), true],
    ];
    for (const [label, step, slow, mayComplete] of migrateSteps) {
      test(`cancelling ${name === 'live1' ? 'live' : 'cold'} migrate during ${label} undoes it`, async () => {
        const node = await stack.client.containers.get(name);
        const back = node.parentId === (await stack.client.hypervisors.get('hv-1')).id ? 'hv-2' : 'hv-1';
        await cancelDuring(step, slow, () => stack.client.containers.migrate(name, { target: back }), { mayComplete });
      });
    }
  }

  test('a queued command can be cancelled before it starts, and the queue moves on', async () => {
    await stack.sim.admin.setDelays({ start: 2000 });
    await (await stack.client.containers.stop('live1')).result();
    const first = await stack.client.containers.start('live1');
    const second = await stack.client.containers.stop('live1');
    const third = await stack.client.containers.suspend('live1').catch((e) => e);
    assert.match(String(third), /cannot suspend live1: it is stopped/);
    assert.equal((await second.progress()).phase, 'queued');
    await second.cancel();
    await assert.rejects(second.result(), CancelledError);
    assert.equal((await first.result()).state, 'running');
    assert.equal((await stack.client.containers.get('live1')).state, 'running');
    await assertConsistent(stack);
  });
});
