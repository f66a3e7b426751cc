// The farm's state survives its own restart; what was in flight is rolled back.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { DriverError, HostUnreachableError } from '../../src/domain/errors';
import { SimDriver } from '../../src/drivers/sim';
import { runSim, SimAdmin } from '../../src/sim';
import { startSim, type TestSim } from '../support/sim';
import { addHosts, containerSpec, deploy } from './fixtures';

let sim: TestSim;
const driver = new SimDriver();

before(async () => {
  sim = await startSim({ hosts: [{ id: 'hv-a', cpus: 8, memoryMiB: 8192, diskGiB: 100 }] });
});
after(async () => {
  await sim?.stop();
});

test('hosts, containers, disks, config files, delays and failure rules survive a killed sim', async () => {
  const a = sim.hostRef('hv-a');
  const [b] = await addHosts(sim, 1);
  await deploy(driver, a, containerSpec('web1', { memoryMiB: 2048, diskGiB: 20 }));
  await deploy(driver, a, containerSpec('db1'), 'suspended');
  await driver.applyConfig(a, 'web1', '/etc/app.conf', 'workers=4');
  await sim.admin.partition(b!.id);
  await sim.admin.setDelays({ clone: 1234 });
  await sim.admin.setDelays({ stop: 55 }, 'hv-a');
  await sim.admin.addFailure({ operation: 'reboot', host: 'hv-a', times: 3, message: 'flaky' });
  await assert.rejects(driver.reboot(a, 'web1'), /flaky/);
  const before = await sim.admin.host('hv-a');

  // Every change above was acknowledged, so a SIGKILL right now must not lose any of them.
  await sim.restart({ signal: 'SIGKILL' });

  assert.deepEqual(await sim.admin.host('hv-a'), before);
  assert.equal(await driver.readConfig(a, 'web1', '/etc/app.conf'), 'workers=4');
  assert.deepEqual((await driver.hostStatus(a)).free, { cpus: 6, memoryMiB: 5120, diskGiB: 70 });
  assert.equal((await sim.admin.hosts()).find((h) => h.id === b!.id)?.power, 'partitioned');
  assert.deepEqual(await sim.admin.delays(), { clone: 1234 });
  assert.deepEqual(await sim.admin.delays('hv-a'), { stop: 55 });
  const [rule] = await sim.admin.failures();
  assert.deepEqual([rule?.operation, rule?.fired, rule?.times], ['reboot', 1, 3]);
  // The rule's remaining two failures still apply, then it is gone.
  await assert.rejects(driver.reboot(a, 'web1'), /flaky/);
  await assert.rejects(driver.reboot(a, 'web1'), /flaky/);
  await driver.reboot(a, 'web1');
  await sim.admin.rejoin(b!.id);
  await sim.admin.setDelays({ clone: null });
  await sim.admin.setDelays({ stop: null }, 'hv-a');
});

test('a live migration in flight when the sim is killed is rolled back: the container runs on the source only', async () => {
  const [src, dst] = await addHosts(sim, 2, { memoryMiB: 8192 });
  const spec = containerSpec('mover', { memoryMiB: 2048 });
  await deploy(driver, src!, spec);
  await sim.admin.setDelays({ migrate: 20_000 }, src!.id);
  const migrating = driver.migrate(src!, dst!, spec, { live: true });
  for (let i = 0; i < 100 && (await sim.admin.vm(dst!.id, 'mover')) === undefined; i++) await sleep(10);
  assert.equal((await sim.admin.vm(dst!.id, 'mover'))?.state, 'migrating');

  const restarting = sim.restart({ signal: 'SIGKILL' });
  // The driver was polling the operation: the dead sim is an unreachable host, or — when the
  // restarted sim answers first — an operation it no longer knows. Callers retry either.
  await assert.rejects(
    migrating,
    (err: unknown) =>
      (err instanceof HostUnreachableError && err.host === src!.name) ||
      (err instanceof DriverError && !err.permanent && /knows no operation/.test(err.message)),
  );
  await restarting;

  assert.equal((await driver.containerStatus(src!, 'mover'))?.state, 'running');
  assert.equal(await driver.containerStatus(dst!, 'mover'), undefined);
  assert.equal((await driver.hostStatus(dst!)).free.memoryMiB, 8192);
  // The migration can simply be tried again.
  await sim.admin.setDelays({ migrate: null }, src!.id);
  await driver.migrate(src!, dst!, spec, { live: true });
  assert.equal((await driver.containerStatus(dst!, 'mover'))?.state, 'running');
});

test('a clean stop rolls back a start in flight, and the restarted sim no longer knows the operation', async () => {
  const [h] = await addHosts(sim, 1, { memoryMiB: 4096 });
  await deploy(driver, h!, containerSpec('web1', { memoryMiB: 3072 }), 'stopped');
  await sim.admin.setDelays({ start: 20_000 }, h!.id);
  const res = await fetch(`${sim.hostAddress(h!.id)}/vms/web1/start`, { method: 'POST', body: '{}' });
  const { id, done } = (await res.json()) as { id: string; done: boolean };
  assert.equal(done, false);

  await sim.restart({ signal: 'SIGTERM' });

  assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'stopped');
  assert.equal((await driver.hostStatus(h!)).free.memoryMiB, 4096);
  const poll = await fetch(`${sim.hostAddress(h!.id)}/ops/${id}`);
  assert.equal(poll.status, 404);
  const body = (await poll.json()) as { error: { code: string; transient: boolean } };
  assert.deepEqual([body.error.code, body.error.transient], ['unknown_op', true]);
  // Nothing stays busy after the restart.
  await sim.admin.setDelays({ start: null }, h!.id);
  await driver.start(h!, 'web1');
  assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'running');
  await assert.rejects(driver.start(h!, 'web1'), (err: unknown) => err instanceof DriverError && err.permanent);
});

test('a second sim on the same state folder refuses to start', async () => {
  await assert.rejects(runSim({ port: 0, stateDir: sim.stateDir }), /another sim \(pid \d+\) is using/);
  // The running one is unharmed.
  assert.equal((await sim.admin.health()).ok, true);
});

test('runSim defaults add hosts and failure rules once; a restart keeps later changes to them', async () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'vmflow-sim-defaults-'));
  const defaults = {
    hosts: [{ id: 'hv-d', cpus: 4, memoryMiB: 4096, diskGiB: 50 }],
    delays: { define: 5 },
    failures: [{ operation: 'start' as const, message: 'default rule' }],
  };
  try {
    let running = await runSim({ port: 0, stateDir, defaults });
    let admin = new SimAdmin(running.url);
    await admin.updateHost('hv-d', { cpus: 6 });
    await running.close();
    running = await runSim({ port: 0, stateDir, defaults });
    admin = new SimAdmin(running.url);
    try {
      assert.deepEqual((await admin.hosts()).map((h) => [h.id, h.capacity.cpus]), [['hv-d', 6]]);
      assert.deepEqual((await admin.failures()).map((r) => r.message), ['default rule']);
      assert.deepEqual(await admin.delays(), { define: 5 });
    } finally {
      await running.close();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('a sim killed mid-burst keeps every acknowledged change, and each migrated VM on exactly one host', async () => {
  const hosts = await addHosts(sim, 6, { cpus: 1000, memoryMiB: 1 << 20, diskGiB: 100_000 });
  const movers = ['m1', 'm2', 'm3'].map((name) => containerSpec(name));
  // Where each mover was last acknowledged, and where its unacknowledged migration was taking it.
  const at = new Map<string, { acked: number; moving?: number }>();
  for (const [i, spec] of movers.entries()) {
    await deploy(driver, hosts[i]!, spec);
    at.set(spec.name, { acked: i });
  }
  const added: Array<[string, string]> = [];
  let acks = 0;
  let killed = false;
  const adder = async (w: number) => {
    for (let n = 0; !killed; n++) {
      const host = hosts[(w + n) % hosts.length]!;
      const name = `burst-${w}-${n}`;
      try {
        await sim.admin.addVm(host.id, { name });
      } catch {
        return;
      }
      if (!killed) added.push([host.id, name]);
      acks++;
    }
  };
  const mover = async (spec: (typeof movers)[number]) => {
    const where = at.get(spec.name)!;
    while (!killed) {
      const to = (where.acked + 1) % hosts.length;
      where.moving = to;
      try {
        await driver.migrate(hosts[where.acked]!, hosts[to]!, spec, { live: true });
      } catch {
        return;
      }
      if (killed) return;
      where.acked = to;
      where.moving = undefined;
      acks++;
      // Pauses between migrations, so that the kill often finds a mover at rest on its new host.
      await sleep(10);
    }
  };
  const burst = Promise.all([...[0, 1, 2, 3].map(adder), ...movers.map(mover)]);
  while (acks < 150) await sleep(5);
  // Acknowledgements that arrive once the kill has begun are not counted: the answer may have been
  // sent before the kill, but the test cannot tell it from one cut off.
  killed = true;
  await sim.restart({ signal: 'SIGKILL' });
  await burst;

  assert.ok(added.length > 50, `only ${added.length} VMs were added before the kill`);
  for (const [hostId, name] of added) assert.ok(await sim.admin.vm(hostId, name), `${name} on ${hostId} was acknowledged but is gone`);
  for (const spec of movers) {
    const on = [];
    for (const [i, h] of hosts.entries()) if (await driver.containerStatus(h, spec.name)) on.push(i);
    const { acked, moving } = at.get(spec.name)!;
    assert.equal(on.length, 1, `${spec.name} is on hosts ${on.join(', ')}`);
    assert.ok(on[0] === acked || on[0] === moving, `${spec.name} is on host ${on[0]}, not ${acked} or ${moving}`);
  }
});
