// The HA policy's limits on the real stack: same-kind members of an environment spread over hosts
// (together only when nothing else fits, and the history says why), a container that keeps losing
// its host is failed over at most `haMaxRestarts` times in its window, and hosts that go down
// together with too little room left bring back the highest priorities first, the rest left lost
// with a NO_CAPACITY reason that gives the counts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FailoverReport } from '../../workflows/failover';
import type { CollectorOptions, MonitorOptions } from '../../workflows/monitor';
import { collectorCycle, monitorCycle } from '../support/cycles';
import { assertConsistent, eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const K = 2;
const MONITOR: MonitorOptions = { downAfter: K, contactEverySeconds: 60, pollTimeoutMs: 2000 };
const COLLECT: CollectorOptions = { claimTtlSeconds: 900, orphanGraceSeconds: 3600 };
const small = { cpus: 1, memoryMiB: 256, diskGiB: 2 };
const HOSTS = ['hv-1', 'hv-2', 'hv-3', 'hv-4'];

function helpers(get: () => Stack) {
  const hostOf = async (name: string) => {
    const c = await get().client.containers.get(name);
    return c.parentId ? (await get().services.registry.get(c.parentId)).name : undefined;
  };
  const failoverOf = async (host: string, after = 0): Promise<FailoverReport> => {
    const handle = await eventually(async () => {
      for await (const w of get().client.temporal.workflow.list({ query: `WorkflowType = 'failoverHost' AND VmflowHypervisor = '${host}'` })) {
        if (w.startTime.getTime() >= after) return get().client.temporal.workflow.getHandle(w.workflowId);
      }
      return undefined;
    }, 30_000, `the failover of ${host}`);
    return handle.result();
  };
  const crash = async (...hosts: string[]) => {
    const at = Date.now();
    for (const h of hosts) await get().sim.admin.crash(h);
    for (let i = 0; i < K; i++) await monitorCycle(get(), MONITOR);
    for (const h of hosts) assert.equal((await get().client.hypervisors.get(h)).state, 'down');
    return at;
  };
  /** Every crashed host rejoins; their stale copies go once the live ones have been seen twice. */
  const heal = async (...hosts: string[]) => {
    for (const h of hosts) await get().sim.admin.rejoin(h);
    await monitorCycle(get(), MONITOR);
    await collectorCycle(get(), COLLECT);
    await collectorCycle(get(), COLLECT);
  };
  return { hostOf, failoverOf, crash, heal };
}

describe('spread and restart limits', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: HOSTS.map((name) => ({ name, cpus: 16, memoryMiB: 16384, diskGiB: 200 })), workerProcess: true });
  });
  after(async () => stack?.stop());
  const { hostOf, failoverOf, crash, heal } = helpers(() => stack);

  test('web servers of one environment land on different hosts; together only when nothing else fits, and the history says why', async () => {
    await (await stack.client.environments.create('site')).result();
    const add = async (name: string, hint?: string) => (await stack.client.environments.add('site', { create: { name, definition: { kind: 'web', ...small }, ...(hint ? { hint } : {}) } })).result();
    await add('site-w1');
    await add('site-w2');
    await add('site-w3');
    const hosts = await Promise.all(['site-w1', 'site-w2', 'site-w3'].map(hostOf));
    assert.equal(new Set(hosts).size, 3, `three web servers on three hosts: ${hosts.join(', ')}`);
    const w1 = await stack.client.containers.get('site-w1');
    assert.ok(!(await stack.services.registry.events(w1.id, 50)).some((e) => e.what.includes('beside its kind')), 'spread kept: nothing to explain');

    // Only w1's host may take w4 (it is hinted there): it goes there, and says so.
    await add('site-w4', hosts[0]);
    assert.equal(await hostOf('site-w4'), hosts[0]);
    const w4 = await stack.client.containers.get('site-w4');
    const placed = (await stack.services.registry.events(w4.id, 50)).find((e) => e.what.includes('beside its kind'));
    assert.ok(placed, 'an event explains the shared host');
    assert.match(placed.why, /beside a member of the same kind of its environment: no other host fits \(.*excluded by anti-affinity/);
    await assertConsistent(stack);
  });

  test('a container failed over haMaxRestarts times within its window is left lost for an operator', async () => {
    await (await stack.client.containers.create('flaky', { definition: { kind: 'generic', ...small }, hint: 'hv-4' })).result();
    // The policy changes while it runs: nothing on its host is touched.
    const changed = await (await stack.client.containers.update('flaky', { definition: { haMaxRestarts: 1, haPriority: 5 } })).result();
    assert.equal(changed.state, 'running');
    const policy = (await stack.client.containers.get('flaky')).definition;
    assert.equal(policy.haMaxRestarts, 1);
    assert.equal(policy.haPriority, 5);
    await assert.rejects(async () => (await stack.client.containers.update('flaky', { definition: { cpus: 2 } })).result(), /stop it first/);
    const first = await crash('hv-4');
    const report = await failoverOf('hv-4', first);
    assert.ok(report.restarted.some((r) => r.name === 'flaky'));
    const next = (await hostOf('flaky'))!;
    assert.notEqual(next, 'hv-4');
    await stack.sim.admin.rejoin('hv-4');
    await monitorCycle(stack, MONITOR);

    const second = await crash(next);
    const again = await failoverOf(next, second);
    const refused = again.failed.find((f) => f.name === 'flaky');
    assert.equal(refused?.code, 'RESTART_LIMIT');
    const flaky = await stack.client.containers.get('flaky');
    assert.equal(flaky.state, 'lost');
    assert.match(String(flaky.metadata['vmflow.stateCause']), /failover from .* refused: failed over 1 times in the last 60 minutes \(haMaxRestarts 1\)/);
    await heal('hv-4', next);
    assert.equal((await stack.client.containers.get('flaky')).state, 'stopped', 'found again where it was left');
    await assertConsistent(stack);
  });
});

describe('two hosts down with room for only some', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: HOSTS.map((name) => ({ name, cpus: 4, memoryMiB: 8192, diskGiB: 100 })), workerProcess: true });
  });
  after(async () => stack?.stop());
  const { hostOf, failoverOf, crash, heal } = helpers(() => stack);

  test('the highest priorities come back first across both hosts; the rest stay lost with the counts', async () => {
    const two = { ...small, cpus: 2 };
    const put = async (name: string, host: string, extra: object) => (await stack.client.containers.create(name, { definition: { kind: 'generic', ...two, ...extra }, hint: host })).result();
    await put('p2', 'hv-1', { haPriority: 2 });
    await put('p3', 'hv-1', { haPriority: 3 });
    await put('p1', 'hv-2', { haPriority: 1 });
    await put('p4', 'hv-2', { haPriority: 4 });
    // The hosts left up have room for two of the four.
    await put('fill-3', 'hv-3', { ha: 'none' });
    await put('fill-4', 'hv-4', { ha: 'none' });

    const at = await crash('hv-1', 'hv-2');
    const report = await failoverOf('hv-1', at);
    assert.deepEqual([...(report.hosts ?? [])].sort(), ['hv-1', 'hv-2'], 'one failover for the hosts that went down together');
    assert.deepEqual(report.restarted.map((r) => r.name), ['p1', 'p2'], 'priority order across both hosts');
    assert.deepEqual(report.failed.map((f) => [f.name, f.code]), [['p3', 'NO_CAPACITY'], ['p4', 'NO_CAPACITY']]);
    for (const name of ['p1', 'p2']) {
      assert.equal((await stack.client.containers.get(name)).state, 'running');
      assert.ok(['hv-3', 'hv-4'].includes((await hostOf(name))!));
    }
    for (const name of ['p3', 'p4']) {
      const c = await stack.client.containers.get(name);
      assert.equal(c.state, 'lost');
      assert.match(String(c.metadata['vmflow.stateCause']), new RegExp(`failover from hv-[12] refused: no capacity for ${name}: .*2 hosts full on cpu`));
    }
    await heal('hv-1', 'hv-2');
    for (const name of ['p3', 'p4']) assert.equal((await stack.client.containers.get(name)).state, 'stopped', `${name} found again on its host`);
    await assertConsistent(stack);
  });
});
