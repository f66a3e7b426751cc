// A rolling deploy of changed workflow code: commands and entities started on version A keep
// running while the workers are replaced by version B, whose stop command has an extra step
// behind `patched()`. A's stop in flight completes on B's workers the way it began; B's stops,
// and commands sent after the roll to entities A started, take the new path. The histories of
// both replay against B, and B's cannot replay against A: why a rollback needs the patch kept.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker, bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { connectTemporalWorker } from '../../src/temporal/connection';
import { createWorker } from '../../src/worker';
import { workflowBundle } from '../../src/worker/bundle';
import { assertConsistent, eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';
import { CHECK_STEP } from './next-version/workflows';

const ROOT = path.resolve(__dirname, '..', '..');
type WorkflowBundle = NonNullable<WorkerOptions['workflowBundle']>;
const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

interface Version {
  readonly label: string;
  stop(): Promise<void>;
}

describe('rolling upgrade from version A to version B', () => {
  let stack: Stack;
  let bundleA: WorkflowBundle;
  let bundleB: WorkflowBundle;
  const running: Version[] = [];

  /** Starts a worker of one version; it stops as a deploy stops it, letting activities finish. */
  async function startVersion(label: string, bundle: WorkflowBundle): Promise<Version> {
    const connection = await connectTemporalWorker({ temporalAddress: stack.temporal.address });
    const worker = await createWorker({
      connection,
      client: stack.client.temporal,
      namespace: 'default',
      services: stack.services,
      shutdownGraceSeconds: 30,
      extra: { workflowBundle: bundle, identity: `version-${label}` },
    });
    const run = worker.run();
    const version = {
      label,
      async stop() {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await run;
        await connection.close();
        running.splice(running.indexOf(version), 1);
      },
    };
    running.push(version);
    return version;
  }

  before(async () => {
    const [a, { code }] = await Promise.all([
      workflowBundle(),
      bundleWorkflowCode({
        workflowsPath: path.join(__dirname, 'next-version', 'workflows.ts'),
        workflowInterceptorModules: [path.join(ROOT, 'workflows', 'interceptors.ts')],
        logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) },
      }),
    ]);
    bundleA = a;
    bundleB = { code };
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }] });
  });
  after(async () => {
    for (const v of [...running]) await v.stop();
    await stack?.sim.admin.setDelays({ stop: null }).catch(() => undefined);
    await stack?.stop();
  });

  const identities = async (h: WorkflowHandle) =>
    new Set(((await h.fetchHistory()).events ?? []).map((e) => e.workflowTaskCompletedEventAttributes?.identity).filter((i): i is string => !!i));
  const patchMarkers = async (h: WorkflowHandle) => ((await h.fetchHistory()).events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch').length;

  test('A’s runs complete as they began on B’s workers; B’s runs and A’s entities take the new path', async () => {
    // Version A: the stack's worker is replaced by one that stops the way a deploy stops it.
    await stack.killWorker();
    const a = await startVersion('a', bundleA);
    for (const name of ['u1', 'u2']) assert.equal((await (await stack.client.containers.create(name, { definition: web, hint: 'hv-1' })).result()).state, 'running');
    await stack.sim.admin.setDelays({ stop: 4000 });
    const stopOnA = await stack.client.containers.stop('u1');
    await eventually(async () => /^stop on hv-1/.test((await stopOnA.progress()).step), 30_000, 'u1’s stop to reach its host on version A');

    // The roll: B starts, then A stops (its running stop activity finishes first).
    const b = await startVersion('b', bundleB);
    await a.stop();
    await stack.sim.admin.setDelays({ stop: null });

    const before = await stopOnA.result();
    assert.equal(before.state, 'stopped');
    assert.ok(!before.steps!.includes(CHECK_STEP), `A’s stop keeps A’s steps: ${before.steps!.join(', ')}`);
    const stopOnAHandle = stack.client.temporal.workflow.getHandle(stopOnA.workflowId);
    assert.deepEqual([...(await identities(stopOnAHandle))].sort(), ['version-a', 'version-b'], 'it began on A and ended on B');
    assert.equal(await patchMarkers(stopOnAHandle), 0);

    // After the roll: a new stop, through an entity A started, runs B's code.
    const stopOnB = await (await stack.client.containers.stop('u2')).result();
    assert.deepEqual(stopOnB.steps!.slice(0, 2), ['load', CHECK_STEP], 'B’s stop has the new step');
    // The container entities began on A and serve B's commands.
    const restart = await (await stack.client.containers.start('u1')).result();
    assert.equal(restart.state, 'running');
    const again = await stack.client.containers.stop('u1');
    assert.ok((await again.result()).steps!.includes(CHECK_STEP));
    const entity = stack.client.temporal.workflow.getHandle('container/u1');
    assert.deepEqual([...(await identities(entity))].sort(), ['version-a', 'version-b'], 'u1’s entity lived through the roll');

    // Both histories replay against B; B's new path cannot replay against A.
    const histories = async (...hs: WorkflowHandle[]) => Promise.all(hs.map(async (h) => ({ workflowId: h.workflowId, history: await h.fetchHistory() })));
    const replay = async (bundle: WorkflowBundle, hs: WorkflowHandle[]) => {
      const failures: string[] = [];
      for await (const r of Worker.runReplayHistories({ workflowBundle: bundle, replayName: 'rolling upgrade' }, await histories(...hs))) if (r.error) failures.push(r.workflowId);
      return failures;
    };
    const newStop = stack.client.temporal.workflow.getHandle(again.workflowId);
    assert.deepEqual(await replay(bundleB, [stopOnAHandle, newStop, entity]), []);
    assert.deepEqual(await replay(bundleA, [stopOnAHandle, entity]), []);
    assert.deepEqual(await replay(bundleA, [newStop]), [again.workflowId], 'a rollback to A could not run B’s stops');
    await b.stop();
    await stack.startWorker();
    await assertConsistent(stack);
  });
});
