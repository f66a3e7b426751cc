// The monitor and collector schedules: created idempotently at start, and they really run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config';
import { META } from '../../src/domain/types';
import { COLLECTOR_SCHEDULE, MONITOR_SCHEDULE, ensureSchedules } from '../../src/monitor/schedules';
import { eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

describe('schedules', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }] });
  });
  after(async () => {
    for (const id of [MONITOR_SCHEDULE, COLLECTOR_SCHEDULE]) await stack.client.temporal.schedule.getHandle(id).delete().catch(() => undefined);
    await stack?.stop();
  });

  test('ensureSchedules creates both schedules, updates them when settings change, and the monitor runs', async () => {
    const config = loadConfig({ VMFLOW_MONITOR_INTERVAL: '1', VMFLOW_COLLECTOR_INTERVAL: '5' });
    const host = await stack.client.hypervisors.get('hv-1');
    await stack.services.registry.update(host.id, undefined, { metadata: { [META.lastContact]: null } });
    await ensureSchedules(stack.client.temporal, config);
    await ensureSchedules(stack.client.temporal, config); // a second start changes nothing
    const monitor = await stack.client.temporal.schedule.getHandle(MONITOR_SCHEDULE).describe();
    assert.equal(monitor.spec.intervals?.[0]?.every, 1000);
    await eventually(async () => (await stack.client.hypervisors.get('hv-1')).metadata[META.lastContact], 20_000, 'a scheduled monitor cycle');

    await ensureSchedules(stack.client.temporal, loadConfig({ VMFLOW_MONITOR_INTERVAL: '30', VMFLOW_COLLECTOR_INTERVAL: '60' }));
    const updated = await stack.client.temporal.schedule.getHandle(MONITOR_SCHEDULE).describe();
    assert.equal(updated.spec.intervals?.[0]?.every, 30_000);
    const collector = await stack.client.temporal.schedule.getHandle(COLLECTOR_SCHEDULE).describe();
    assert.equal(collector.spec.intervals?.[0]?.every, 60_000);
  });
});
