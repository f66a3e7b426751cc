// A deploy stops workers with SIGTERM: a worker lets its running activities finish within its
// grace time (VMFLOW_SHUTDOWN_GRACE), so a live migration in flight completes, once, and its
// command goes on on the workers that remain.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertConsistent, eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';
import { activityRuns, spawnWorker } from './worker-process';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
const MIGRATE_MS = 6000;

describe('graceful shutdown', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }] });
  });
  after(async () => {
    await stack.sim.admin.setDelays({ migrate: null }).catch(() => undefined);
    await stack?.stop();
  });

  test('SIGTERM during a slow live migration lets it finish: not cut, not retried, and the command completes', async () => {
    assert.equal((await (await stack.client.containers.create('g1', { definition: web, hint: 'hv-1' })).result()).host, 'hv-1');
    // From here only the worker process runs commands.
    await stack.killWorker();
    const worker = spawnWorker(stack, { VMFLOW_SHUTDOWN_GRACE: '60' });
    try {
      await stack.sim.admin.setDelays({ migrate: MIGRATE_MS });
      const h = await stack.client.containers.migrate('g1', { target: 'hv-2' });
      await eventually(async () => /live migrate hv-1/.test((await h.progress()).step), 60_000, 'the live migration to start on the worker process');
      const signalled = Date.now();
      const code = await worker.stop('SIGTERM');
      const stoppedAfter = Date.now() - signalled;
      assert.equal(code, 0, 'the worker exits cleanly');
      assert.ok(stoppedAfter >= MIGRATE_MS / 2, `the worker waited for the migration (stopped after ${stoppedAfter} ms)`);
      // The move finished on the host while the worker stopped: the VM is on hv-2 already.
      assert.equal((await stack.sim.admin.vm('hv-2', 'g1'))?.state, 'running');
      assert.equal(await stack.sim.admin.vm('hv-1', 'g1'), undefined);

      // The next deploy's worker takes the command on from the step after the migration.
      await stack.startWorker();
      const r = await h.result();
      assert.equal(r.host, 'hv-2');
      const moves = (await activityRuns(stack.client.temporal.workflow.getHandle(h.workflowId))).filter((a) => a.type === 'containerMigrate');
      assert.equal(moves.length, 1, 'one migration, no undo');
      assert.deepEqual(moves[0]!.attempts, [1], 'the migration ran once, not retried');
      assert.equal(moves[0]!.outcome, 'completed');
      assert.notDeepEqual(moves[0]!.identities, [''], 'it ran on the stopped worker');
      await assertConsistent(stack);
    } finally {
      await worker.stop('SIGKILL');
    }
  });
});
