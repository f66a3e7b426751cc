// Operations that take time: progress, cancellation, a live migration seen mid-way, faults mid-way.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { DriverError, HostUnreachableError } from '../../src/domain/errors';
import type { DriverContext, Progress } from '../../src/drivers/driver';
import { SimDriver } from '../../src/drivers/sim';
import { startSim, type TestSim } from '../support/sim';
import { addHosts, containerSpec, deploy } from './fixtures';

let sim: TestSim;
const driver = new SimDriver();

before(async () => {
  sim = await startSim();
});
after(async () => {
  await sim?.stop();
});

function recording(signal?: AbortSignal): { ctx: DriverContext; seen: Progress[] } {
  const seen: Progress[] = [];
  return { ctx: { progress: (p) => seen.push(p), signal }, seen };
}

/** Waits until the sim lists an operation of `operation` on `hostId` in flight. */
async function inFlight(hostId: string, operation: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await sim.admin.ops()).some((o) => o.host === hostId && o.operation === operation)) return;
    await sleep(10);
  }
  assert.fail(`no ${operation} in flight on ${hostId}`);
}

describe('progress', () => {
  test('a start that takes time reports rising progress and ends with the container running', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'), 'stopped');
    await sim.admin.setDelays({ start: 400 }, h!.id);
    const { ctx, seen } = recording();
    const began = Date.now();
    await driver.start(h!, 'web1', ctx);
    assert.ok(Date.now() - began >= 390, `start took ${Date.now() - began} ms, less than its 400 ms delay`);
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'running');
    const fractions = seen.map((p) => p.fraction ?? -1);
    assert.ok(fractions.length >= 4, `only ${fractions.length} progress reports`);
    assert.ok(fractions[0]! < 0.5, `first report ${fractions[0]}`);
    assert.equal(fractions.at(-1), 1);
    assert.deepEqual(fractions, [...fractions].sort((a, b) => a - b), 'progress went backwards');
    assert.ok(seen.every((p) => p.step === 'start'));
  });

  test('an operation without delay answers in one request, without progress reports', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'), 'stopped');
    const before = (await sim.admin.stats()).requests;
    const { ctx, seen } = recording();
    await driver.start(h!, 'web1', ctx);
    const after = (await sim.admin.stats()).requests;
    // The stats call itself is the other request.
    assert.equal(after - before, 2);
    assert.equal(seen.length, 0);
  });

  test('a host delay wins over the global delay of the same operation', async () => {
    const [slow] = await addHosts(sim, 1);
    const fast = sim.hostRef('hv-fast');
    // A host's delays can also be given when it is created.
    await sim.admin.addHost({ id: 'hv-fast', cpus: 8, memoryMiB: 8192, diskGiB: 100, delays: { reboot: 0 } });
    await deploy(driver, fast, containerSpec('web1'));
    await deploy(driver, slow!, containerSpec('web1'));
    await sim.admin.setDelays({ reboot: 300 });
    assert.deepEqual(await sim.admin.delays('hv-fast'), { reboot: 0 });
    try {
      let began = Date.now();
      await driver.reboot(fast, 'web1');
      assert.ok(Date.now() - began < 250, `the fast host took ${Date.now() - began} ms`);
      began = Date.now();
      await driver.reboot(slow!, 'web1');
      assert.ok(Date.now() - began >= 290, `the slow host took ${Date.now() - began} ms`);
    } finally {
      await sim.admin.setDelays({ reboot: null });
    }
  });

  test('a container with an operation in flight refuses another one, as a transient error', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'), 'stopped');
    await sim.admin.setDelays({ start: 700 }, h!.id);
    const starting = driver.start(h!, 'web1');
    await inFlight(h!.id, 'start');
    await assert.rejects(driver.undefine(h!, 'web1'), (err: unknown) => {
      assert.ok(err instanceof DriverError);
      assert.match(err.driverMessage, /web1 on .* is busy: start/);
      assert.equal(err.permanent, false);
      return true;
    });
    await starting;
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'running');
  });

  test('memory a start in flight needs is already taken for other starts', async () => {
    const [h] = await addHosts(sim, 1, { memoryMiB: 4096 });
    await deploy(driver, h!, containerSpec('a', { memoryMiB: 3072 }), 'stopped');
    await deploy(driver, h!, containerSpec('b', { memoryMiB: 3072 }), 'stopped');
    await sim.admin.setDelays({ start: 700 }, h!.id);
    const first = driver.start(h!, 'a');
    await inFlight(h!.id, 'start');
    await assert.rejects(driver.start(h!, 'b'), /not enough free memory/);
    // Refused up front, not when the first start committed.
    assert.ok((await sim.admin.ops()).some((o) => o.vm === 'a' && o.operation === 'start'), 'the refusal waited for the first start');
    await first;
    assert.equal((await driver.containerStatus(h!, 'b'))?.state, 'stopped');
  });
});

describe('live migration in flight', () => {
  test('while it runs the container is on both hosts, memory held on both; then only on the target', async () => {
    const [a, b] = await addHosts(sim, 2, { memoryMiB: 8192 });
    const spec = containerSpec('web1', { memoryMiB: 2048 });
    await deploy(driver, a!, spec);
    await sim.admin.setDelays({ migrate: 700 }, a!.id);
    const { ctx, seen } = recording();
    const migrating = driver.migrate(a!, b!, spec, { live: true }, ctx);
    await inFlight(a!.id, 'migrate');
    assert.equal((await driver.containerStatus(a!, 'web1'))?.state, 'running');
    assert.equal((await driver.containerStatus(b!, 'web1'))?.state, 'migrating');
    assert.equal((await driver.hostStatus(a!)).free.memoryMiB, 6144);
    assert.equal((await driver.hostStatus(b!)).free.memoryMiB, 6144);
    await migrating;
    assert.equal(await driver.containerStatus(a!, 'web1'), undefined);
    assert.equal((await driver.containerStatus(b!, 'web1'))?.state, 'running');
    assert.equal((await driver.hostStatus(a!)).free.memoryMiB, 8192);
    assert.ok(seen.length >= 3 && seen.at(-1)?.fraction === 1);
  });

  test('cancelling it rolls it back: the container runs on the source only', async () => {
    const [a, b] = await addHosts(sim, 2, { memoryMiB: 8192 });
    const spec = containerSpec('web1', { memoryMiB: 2048 });
    await deploy(driver, a!, spec);
    await sim.admin.setDelays({ migrate: 2000 }, a!.id);
    const abort = new AbortController();
    const { ctx } = recording(abort.signal);
    const migrating = driver.migrate(a!, b!, spec, { live: true }, ctx);
    await inFlight(a!.id, 'migrate');
    assert.equal((await driver.containerStatus(b!, 'web1'))?.state, 'migrating');
    const began = Date.now();
    abort.abort();
    await assert.rejects(migrating, (err: unknown) => (err as Error).name === 'AbortError');
    assert.ok(Date.now() - began < 1000, 'the cancel waited for the migration');
    assert.equal((await driver.containerStatus(a!, 'web1'))?.state, 'running');
    assert.equal(await driver.containerStatus(b!, 'web1'), undefined);
    assert.equal((await driver.hostStatus(b!)).free.memoryMiB, 8192);
    assert.deepEqual(await sim.admin.ops(), []);
  });

  test('cancelling a slow start leaves the container stopped and its memory free', async () => {
    const [h] = await addHosts(sim, 1, { memoryMiB: 4096 });
    await deploy(driver, h!, containerSpec('web1', { memoryMiB: 3072 }), 'stopped');
    await sim.admin.setDelays({ start: 2000 }, h!.id);
    const abort = new AbortController();
    const starting = driver.start(h!, 'web1', recording(abort.signal).ctx);
    await inFlight(h!.id, 'start');
    assert.equal((await driver.hostStatus(h!)).free.memoryMiB, 1024);
    abort.abort(new Error('operator cancelled'));
    await assert.rejects(starting, /operator cancelled/);
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'stopped');
    assert.equal((await driver.hostStatus(h!)).free.memoryMiB, 4096);
  });

  test('an injected failure surfaces at the end and rolls the copy back', async () => {
    const [a, b] = await addHosts(sim, 2);
    const spec = containerSpec('web1');
    await deploy(driver, a!, spec);
    await sim.admin.setDelays({ migrate: 700 }, a!.id);
    const rule = await sim.admin.addFailure({ operation: 'migrate', host: a!.id, message: 'storage copy failed' });
    try {
      const migrating = driver.migrate(a!, b!, spec, { live: true });
      await inFlight(a!.id, 'migrate');
      assert.equal((await driver.containerStatus(b!, 'web1'))?.state, 'migrating');
      await assert.rejects(migrating, (err: unknown) => err instanceof DriverError && err.driverMessage === 'storage copy failed');
    } finally {
      await sim.admin.removeFailure(rule.id);
    }
    assert.equal((await driver.containerStatus(a!, 'web1'))?.state, 'running');
    assert.equal(await driver.containerStatus(b!, 'web1'), undefined);
  });

  test('a crash of the target mid-way rolls it back and is reported as the target unreachable', async () => {
    const [a, b] = await addHosts(sim, 2);
    const spec = containerSpec('web1');
    await deploy(driver, a!, spec);
    await sim.admin.setDelays({ migrate: 2000 }, a!.id);
    const migrating = driver.migrate(a!, b!, spec, { live: true });
    await inFlight(a!.id, 'migrate');
    await sim.admin.crash(b!.id);
    await assert.rejects(migrating, (err: unknown) => err instanceof HostUnreachableError && err.host === b!.name);
    assert.equal((await driver.containerStatus(a!, 'web1'))?.state, 'running');
    await sim.admin.rejoin(b!.id);
    assert.equal(await driver.containerStatus(b!, 'web1'), undefined);
  });

  test('a partitioned source finishes its migration while nobody can see it', async () => {
    const [a, b] = await addHosts(sim, 2);
    const spec = containerSpec('web1');
    await deploy(driver, a!, spec);
    await sim.admin.setDelays({ migrate: 700 }, a!.id);
    const migrating = driver.migrate(a!, b!, spec, { live: true });
    await inFlight(a!.id, 'migrate');
    await sim.admin.partition(a!.id);
    await assert.rejects(migrating, (err: unknown) => err instanceof HostUnreachableError && err.host === a!.name);
    for (let i = 0; i < 100 && (await sim.admin.ops()).length > 0; i++) await sleep(20);
    await sim.admin.rejoin(a!.id);
    assert.equal(await driver.containerStatus(a!, 'web1'), undefined);
    assert.equal((await driver.containerStatus(b!, 'web1'))?.state, 'running');
  });
});
