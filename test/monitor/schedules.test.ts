// The monitor and collector loops: started idempotently at start, one workflow each that runs its
// cycles and takes new settings, paused on demand, continuing as new instead of a run per cycle.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config';
import { cycleSettingsSignal, loopStatusQuery } from '../../src/domain/messages';
import { TASK_QUEUE } from '../../src/domain/names';
import { META } from '../../src/domain/types';
import { COLLECTOR_WORKFLOW_ID, MONITOR_WORKFLOW_ID, MONITOR_BATCH_SIZE, ensureSchedules, pauseCycles } from '../../src/monitor/schedules';
import type { MonitorReport } from '../../workflows/monitor';
import { eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

describe('monitor and collector loops', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }] });
  });
  after(async () => {
    for (const id of [MONITOR_WORKFLOW_ID, COLLECTOR_WORKFLOW_ID]) await stack.client.temporal.workflow.getHandle(id).terminate().catch(() => undefined);
    await stack?.stop();
  });

  const lastContact = async () => (await stack.client.hypervisors.get('hv-1')).metadata[META.lastContact];
  const clearContact = async () => {
    const host = await stack.client.hypervisors.get('hv-1');
    await stack.services.registry.update(host.id, undefined, { metadata: { [META.lastContact]: null } });
  };

  test('ensureSchedules starts one workflow each, gives it new settings, and the monitor runs; a pause holds it', async () => {
    const temporal = stack.client.temporal;
    await clearContact();
    const config = loadConfig({ VMFLOW_MONITOR_INTERVAL: '1', VMFLOW_COLLECTOR_INTERVAL: '5' });
    await ensureSchedules(temporal, config);
    await ensureSchedules(temporal, config); // a second start changes nothing
    const monitor = temporal.workflow.getHandle(MONITOR_WORKFLOW_ID);
    const first = await monitor.describe();
    assert.equal(first.type, 'monitorLoop');
    assert.equal(first.status.name, 'RUNNING');
    await eventually(lastContact, 20_000, 'a monitor cycle of the loop');
    const last = await eventually(async () => (await monitor.query(loopStatusQuery)).last, 10_000, 'the last cycle reported');
    assert.equal((last!.report as MonitorReport).hosts, 1);

    // Several cycles later there is still one monitor workflow in the list.
    await new Promise((r) => setTimeout(r, 2500));
    let runs = 0;
    for await (const _ of temporal.workflow.list({ query: `WorkflowType = 'monitorLoop'` })) runs++;
    assert.equal(runs, 1);
    assert.equal((await monitor.describe()).runId, first.runId);

    await ensureSchedules(temporal, loadConfig({ VMFLOW_MONITOR_INTERVAL: '30', VMFLOW_COLLECTOR_INTERVAL: '60' }));
    assert.equal((await monitor.query(loopStatusQuery)).everySeconds, 30);
    const collector = await temporal.workflow.getHandle(COLLECTOR_WORKFLOW_ID).query(loopStatusQuery);
    assert.deepEqual(
      { everySeconds: collector.everySeconds, options: collector.options, paused: collector.paused },
      { everySeconds: 60, options: { claimTtlSeconds: config.claimTtlSeconds, orphanGraceSeconds: config.orphanGraceSeconds, batchSize: MONITOR_BATCH_SIZE, pollTimeoutMs: config.pollTimeoutMs }, paused: false },
    );

    // Paused, a loop runs no cycle even at a 1 s interval; resumed, it does.
    await pauseCycles(temporal);
    await monitor.signal(cycleSettingsSignal, { everySeconds: 1 });
    assert.equal((await monitor.query(loopStatusQuery)).paused, true);
    await clearContact();
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await lastContact(), undefined, 'no cycle while paused');
    await pauseCycles(temporal, false);
    await eventually(lastContact, 20_000, 'a cycle once resumed');
  });

  test('a loop continues as new after its cycles per run, keeping its settings and last report', async () => {
    const temporal = stack.client.temporal;
    const handle = await temporal.workflow.start('monitorLoop', {
      workflowId: 'test-monitor-loop',
      taskQueue: TASK_QUEUE,
      args: [{ everySeconds: 1, options: { downAfter: 3, contactEverySeconds: 60, pollTimeoutMs: 2000 }, cyclesPerRun: 2 }],
    });
    try {
      await eventually(async () => ((await handle.describe()).runId !== handle.firstExecutionRunId ? true : undefined), 20_000, 'a new run');
      const last = await eventually(async () => (await handle.query(loopStatusQuery)).last, 10_000, 'the last cycle carried over');
      assert.equal((last!.report as MonitorReport).hosts, 1);
    } finally {
      await handle.terminate();
    }
  });
});
