// High availability on the real stack: a host that goes down is fenced and its `restart`
// containers are rebuilt elsewhere in priority order by one durable failover command; `none`
// containers stay lost; a partitioned host never shows a second running copy; a worker killed
// mid-failover changes nothing; the rejoined host's stale copies go only once the rebuilt ones
// have been seen alive.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { drainProgressQuery } from '../../src/domain/messages';
import { UPSTREAM_PATH, upstreamAddresses } from '../../src/hooks/nginx';
import type { FailoverReport } from '../../workflows/failover';
import type { CollectorOptions, MonitorOptions } from '../../workflows/monitor';
import { collectorCycle, monitorCycle } from '../support/cycles';
import { assertConsistent, eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const K = 2;
const MONITOR: MonitorOptions = { downAfter: K, contactEverySeconds: 60, pollTimeoutMs: 2000 };
const COLLECT: CollectorOptions = { claimTtlSeconds: 900, orphanGraceSeconds: 3600 };
const small = { cpus: 1, memoryMiB: 512, diskGiB: 5 };
const big = { cpus: 24, memoryMiB: 32768, diskGiB: 500 };

describe('failover', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: ['hv-1', 'hv-2', 'hv-3', 'hv-4'].map((name) => ({ name, ...big })), workerProcess: true });
  });
  after(async () => stack?.stop());

  const monitor = () => monitorCycle(stack, MONITOR);
  const collect = () => collectorCycle(stack, COLLECT);
  const hostOf = async (name: string) => {
    const c = await stack.client.containers.get(name);
    return c.parentId ? (await stack.services.registry.get(c.parentId)).name : undefined;
  };
  /** The failover command the monitor started for `host`. */
  const failoverOf = async (host: string) =>
    eventually(async () => {
      for await (const w of stack.client.temporal.workflow.list({ query: `WorkflowType = 'failoverHost' AND VmflowHypervisor = '${host}'` })) return stack.client.temporal.workflow.getHandle(w.workflowId);
      return undefined;
    }, 30_000, `the failover of ${host}`);
  /** Monitor cycles until `host` is down. */
  const untilDown = async (host: string) => {
    for (let i = 0; i < K; i++) await monitor();
    assert.equal((await stack.client.hypervisors.get(host)).state, 'down');
  };

  test('a crashed host: its restart containers run elsewhere in priority order, none stay lost, the balancer follows; rejoin collects only stale copies', async () => {
    const add = async (env: string, name: string, kind: string, extra: object = {}) =>
      (await stack.client.environments.add(env, { create: { name, definition: { kind, ...small, ...extra }, hint: 'hv-1' } })).result();
    for (const env of ['shop', 'blog', 'wiki']) await (await stack.client.environments.create(env)).result();
    await add('shop', 'shop-db', 'db');
    await add('shop', 'shop-w1', 'web');
    await add('shop', 'shop-w2', 'web');
    await add('blog', 'blog-db', 'db');
    await add('blog', 'blog-w1', 'web');
    await add('wiki', 'wiki-w1', 'web');
    await add('wiki', 'wiki-g1', 'generic', { ha: 'none' });
    const loose = Array.from({ length: 12 }, (_, i) => `solo-${i + 1}`);
    for (const name of loose) {
      const definition = { kind: 'generic', ...small, ...(name === 'solo-1' ? { ha: 'none' as const } : {}), ...(name === 'solo-2' ? { haPriority: 0 } : {}) };
      await (await stack.client.containers.create(name, { definition, hint: 'hv-1', start: name !== 'solo-3' })).result();
    }
    const onHv1 = (await stack.services.registry.children((await stack.client.hypervisors.get('hv-1')).id, 'container')).map((c) => c.name).sort();
    assert.ok(onHv1.length >= 19, `${onHv1.length} containers on hv-1`);
    const stays = ['solo-1', 'wiki-g1'];
    const balancers = onHv1.filter((n) => n.includes('balancer'));
    const restart = onHv1.filter((n) => !stays.includes(n) && !balancers.includes(n));

    const crashedAt = Date.now();
    await stack.sim.admin.crash('hv-1');
    await untilDown('hv-1');
    const report: FailoverReport = await (await failoverOf('hv-1')).result();
    const seconds = (Date.now() - crashedAt) / 1000;
    console.log(`failover of ${report.restarted.length} containers: every one running again ${seconds.toFixed(1)} s after the crash (${K} monitor cycles run back to back)`);
    assert.equal(report.fenced, true);
    assert.deepEqual(report.failed, []);
    // A balancer's policy is none: its environment replaces it (isDown), with the same upstreams.
    assert.deepEqual([...report.stayed].sort(), [...stays, ...balancers].sort());
    assert.deepEqual(report.restarted.map((r) => r.name).sort(), [...restart].sort());
    assert.equal(report.restarted[0]!.name, 'solo-2', 'haPriority 0 goes first');
    const order = report.restarted.map((r) => r.name);
    assert.ok(order.indexOf('shop-db') < order.indexOf('shop-w1'), 'databases before the web servers that use them');
    for (const name of restart) {
      const c = await stack.client.containers.get(name);
      assert.equal(c.state, name === 'solo-3' ? 'stopped' : 'running', `${name} comes back as it was`);
      assert.notEqual(await hostOf(name), 'hv-1');
      assert.match(String(c.metadata['vmflow.stateCause']), /failover from hv-1 \(host down/);
      const [event] = await stack.services.registry.events(c.id, 1);
      assert.equal(event!.by, 'failover');
    }
    for (const name of stays) assert.equal((await stack.client.containers.get(name)).state, 'lost');
    // The shop's balancer lists both of its web servers at their (unchanged) addresses.
    await eventually(async () => {
      const lb = (await stack.client.environments.members('shop')).find((m) => m.kind === 'balancer' && m.state === 'running');
      if (!lb?.host) return false;
      const conf = (await stack.sim.admin.vm(lb.host, lb.name))?.configs[UPSTREAM_PATH];
      const want = [(await stack.client.containers.get('shop-w1')).definition.network.ip, (await stack.client.containers.get('shop-w2')).definition.network.ip].sort();
      return !!conf && JSON.stringify(upstreamAddresses(conf).sort()) === JSON.stringify(want);
    }, 60_000, 'the balancer to list both web servers');

    // The host is repaired: its copies are stale (their containers run elsewhere) and go once
    // those have been seen alive in two collector cycles; the `none` containers are found again.
    await stack.sim.admin.rejoin('hv-1');
    await monitor();
    assert.equal((await stack.client.hypervisors.get('hv-1')).state, 'up');
    for (const name of stays) assert.equal((await stack.client.containers.get(name)).state, 'stopped');
    assert.deepEqual((await collect()).destroyed, []);
    const second = await collect();
    assert.deepEqual([...second.destroyed].sort(), [...restart, ...balancers].sort());
    const left = (await stack.sim.admin.host('hv-1')).vms.map((v) => v.name).sort();
    assert.deepEqual(left, [...stays].sort());
    assert.deepEqual(await stack.services.registry.usage((await stack.client.hypervisors.get('hv-1')).id), { cpus: 2, memoryMiB: 1024, diskGiB: 10 });
    await assertConsistent(stack);
  });

  test('a partitioned host is fenced before anything is rebuilt: never two running copies', async () => {
    await (await stack.client.containers.create('part-1', { definition: { kind: 'generic', ...small }, hint: 'hv-3' })).result();
    let watching = true;
    let most = 0;
    const watch = (async () => {
      while (watching) {
        const running = (await stack.sim.admin.vms()).filter((v) => v.name === 'part-1' && v.state === 'running').length;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await stack.sim.admin.partition('hv-3');
    await untilDown('hv-3');
    const report: FailoverReport = await (await failoverOf('hv-3')).result();
    watching = false;
    await watch;
    assert.equal(most, 1, 'at most one running copy at any moment');
    assert.deepEqual(report.failed, []);
    assert.ok(report.restarted.some((r) => r.name === 'part-1'));
    assert.equal((await stack.sim.admin.hosts()).find((h) => h.id === 'hv-3')!.power, 'crashed', 'fenced: powered off out of band');
    assert.notEqual(await hostOf('part-1'), 'hv-3');
    await stack.sim.admin.rejoin('hv-3');
    await monitor();
    await collect();
    assert.ok((await collect()).destroyed.includes('part-1'));
    await assertConsistent(stack);
  });

  test('a worker killed during a failover: the failover completes, each container once', async () => {
    for (const name of ['kill-1', 'kill-2', 'kill-3']) await (await stack.client.containers.create(name, { definition: { kind: 'generic', ...small }, hint: 'hv-2' })).result();
    await stack.sim.admin.setDelays({ provision: 1500 });
    try {
      await stack.sim.admin.crash('hv-2');
      await untilDown('hv-2');
      const handle = await failoverOf('hv-2');
      await eventually(async () => (await stack.sim.admin.ops()).some((op) => op.operation === 'provision' && !op.done), 30_000, 'a rebuild in progress');
      await stack.killWorker();
      await stack.startWorker();
      const report: FailoverReport = await handle.result();
      assert.deepEqual(report.failed, []);
      for (const name of ['kill-1', 'kill-2', 'kill-3']) assert.ok(report.restarted.some((r) => r.name === name), `${name} rebuilt`);
    } finally {
      await stack.sim.admin.setDelays({ provision: null });
    }
    for (const name of ['kill-1', 'kill-2', 'kill-3']) {
      const copies = (await stack.sim.admin.vms()).filter((v) => v.name === name && v.host !== 'hv-2');
      assert.equal(copies.length, 1, `${name} was rebuilt once`);
      assert.equal(await hostOf(name), copies[0]!.host);
    }
    await stack.sim.admin.rejoin('hv-2');
    await monitor();
    await collect();
    await collect();
    await assertConsistent(stack);
  });

  test('drain moves every container off a host as one command while other commands run; none is lost', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `drain-${i + 1}`);
    for (const name of names) await (await stack.client.containers.create(name, { definition: { kind: 'generic', ...small }, hint: 'hv-3', start: !name.endsWith('0') })).result();
    const { workflowId } = await stack.client.hypervisors.drain('hv-3', 'disk swap');
    assert.ok(workflowId);
    // Other work goes on meanwhile, and none of it lands on the cordoned host.
    const others = await Promise.all(['busy-1', 'busy-2'].map(async (name) => (await stack.client.containers.create(name, { definition: { kind: 'generic', ...small } })).result()));
    assert.ok(others.every((r) => r.host !== 'hv-3'));
    const report = await stack.client.temporal.workflow.getHandle(workflowId!).result();
    assert.deepEqual(report.failed, []);
    for (const name of names) assert.ok(report.moved.some((m: { name: string }) => m.name === name), `${name} moved`);
    assert.equal(report.moved.find((m: { name: string }) => m.name === 'drain-10').cold, true, 'a stopped container moves cold');
    assert.equal((await stack.services.registry.children((await stack.client.hypervisors.get('hv-3')).id)).length, 0);
    assert.equal((await stack.client.hypervisors.get('hv-3')).state, 'draining');
    for (const name of names) assert.equal((await stack.client.containers.get(name)).state, name.endsWith('0') ? 'stopped' : 'running');
    await assertConsistent(stack);
    assert.equal((await stack.client.hypervisors.undrain('hv-3')).state, 'up');
  });

  test('a drain cancelled midway leaves each container on exactly one host', async () => {
    const names = Array.from({ length: 5 }, (_, i) => `cut-${i + 1}`);
    for (const name of names) await (await stack.client.containers.create(name, { definition: { kind: 'generic', ...small }, hint: 'hv-3' })).result();
    await stack.sim.admin.setDelays({ migrate: 1500 });
    try {
      const { workflowId } = await stack.client.hypervisors.drain('hv-3', 'cancelled later');
      const handle = stack.client.temporal.workflow.getHandle(workflowId!);
      await eventually(async () => (await handle.query(drainProgressQuery)).moved.length >= 2, 60_000, 'two moves done');
      await handle.cancel();
      await assert.rejects(handle.result());
    } finally {
      await stack.sim.admin.setDelays({ migrate: null });
    }
    for (const name of names) assert.equal((await stack.sim.admin.vms()).filter((v) => v.name === name).length, 1, `${name} is on exactly one host`);
    await assertConsistent(stack);
    await stack.client.hypervisors.undrain('hv-3');
  });
});
