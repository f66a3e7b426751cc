// Failure injection, crash/partition/rejoin and tampering, against a real sim process.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import getPort from 'get-port';
import { DriverError, HostUnreachableError } from '../../src/domain/errors';
import type { HostRef } from '../../src/drivers/driver';
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

function unreachable(hostName: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof HostUnreachableError, `expected HostUnreachableError, got ${String(err)}`);
    assert.equal(err.host, hostName);
    assert.equal(err.permanent, false);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

function injected(operation: string, message: string, permanent = true) {
  return (err: unknown) => {
    assert.ok(err instanceof DriverError, `expected DriverError, got ${String(err)}`);
    assert.equal(err.operation, operation);
    assert.equal(err.driverMessage, message);
    assert.equal(err.permanent, permanent);
    return true;
  };
}

/** Runs `call` n times and records which ones failed. */
async function outcomes(n: number, call: () => Promise<unknown>): Promise<boolean[]> {
  const failed: boolean[] = [];
  for (let i = 0; i < n; i++) {
    failed.push(
      await call().then(
        () => false,
        () => true,
      ),
    );
  }
  return failed;
}

describe('failure injection', () => {
  test('a rule on one operation fails that operation with its message and changes nothing', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'), 'stopped');
    const rule = await sim.admin.addFailure({ operation: 'start', host: h!.id, message: 'qemu: could not open disk' });
    try {
      await assert.rejects(driver.start(h!, 'web1'), injected('start', 'qemu: could not open disk'));
      assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'stopped');
      // Other operations still work.
      await driver.applyConfig(h!, 'web1', '/etc/x', 'y');
    } finally {
      await sim.admin.removeFailure(rule.id);
    }
    await driver.start(h!, 'web1');
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'running');
  });

  test('a rule for the next 2 calls fails exactly two calls and then goes away', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'));
    const rule = await sim.admin.addFailure({ operation: 'reboot', host: h!.id, times: 2, message: 'busy' });
    assert.deepEqual(
      await outcomes(4, () => driver.reboot(h!, 'web1')),
      [true, true, false, false],
    );
    assert.equal((await sim.admin.failures()).some((r) => r.id === rule.id), false);
  });

  test('a rule scoped to a host leaves the other hosts alone', async () => {
    const [a, b] = await addHosts(sim, 2);
    await deploy(driver, a!, containerSpec('web1'), 'defined');
    await deploy(driver, b!, containerSpec('web1'), 'defined');
    const rule = await sim.admin.addFailure({ operation: 'provision', host: a!.id });
    try {
      await assert.rejects(driver.provision(a!, containerSpec('web1')), injected('provision', 'injected failure of provision'));
      await driver.provision(b!, containerSpec('web1'));
      assert.equal((await driver.containerStatus(b!, 'web1'))?.provisioned, true);
    } finally {
      await sim.admin.removeFailure(rule.id);
    }
  });

  test('a rule scoped to a VM fails only calls about that VM', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('a'));
    await deploy(driver, h!, containerSpec('b'));
    const rule = await sim.admin.addFailure({ vm: 'a', message: 'guest agent gone' });
    try {
      await assert.rejects(driver.applyConfig(h!, 'a', '/p', 'x'), injected('applyConfig', 'guest agent gone'));
      await driver.applyConfig(h!, 'b', '/p', 'x');
    } finally {
      await sim.admin.removeFailure(rule.id);
    }
  });

  test('a transient rule gives a DriverError the caller may retry', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'));
    await sim.admin.addFailure({ operation: 'suspend', host: h!.id, times: 1, transient: true, message: 'try again' });
    await assert.rejects(driver.suspend(h!, 'web1'), injected('suspend', 'try again', false));
    await driver.suspend(h!, 'web1');
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'suspended');
  });

  test('an unreachable rule makes the call fail as HostUnreachableError', async () => {
    const [h] = await addHosts(sim, 1);
    await sim.admin.addFailure({ operation: 'hostStatus', host: h!.id, times: 1, kind: 'unreachable', message: 'link flapped' });
    await assert.rejects(driver.hostStatus(h!), unreachable(h!.name, /link flapped/));
    assert.equal((await driver.hostStatus(h!)).reachable, true);
  });

  test('failures with a probability follow the seed: the same seed fails the same calls', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'));
    const runs: boolean[][] = [];
    for (let i = 0; i < 2; i++) {
      const rule = await sim.admin.addFailure({ operation: 'containerStatus', host: h!.id, probability: 0.5, seed: 42 });
      runs.push(await outcomes(24, () => driver.containerStatus(h!, 'web1')));
      const fired = (await sim.admin.failures()).find((r) => r.id === rule.id)!.fired;
      assert.equal(fired, runs[i]!.filter(Boolean).length);
      await sim.admin.removeFailure(rule.id);
    }
    assert.deepEqual(runs[0], runs[1]);
    const failures = runs[0]!.filter(Boolean).length;
    assert.ok(failures > 0 && failures < 24, `expected some but not all of 24 calls to fail, ${failures} did`);
    const other = await sim.admin.addFailure({ operation: 'containerStatus', host: h!.id, probability: 0.5, seed: 7 });
    assert.notDeepEqual(await outcomes(24, () => driver.containerStatus(h!, 'web1')), runs[0]);
    await sim.admin.removeFailure(other.id);
  });

  test('unknown operations in a rule are refused by the admin API', async () => {
    await assert.rejects(sim.admin.addFailure({ operation: 'explode' }), /unknown operation explode/);
  });
});

describe('crash, partition and rejoin', () => {
  test('a crashed host does not answer; after rejoin its containers are stopped but still defined', async () => {
    const [h] = await addHosts(sim, 1, { memoryMiB: 8192 });
    await deploy(driver, h!, containerSpec('web1', { memoryMiB: 2048 }));
    await deploy(driver, h!, containerSpec('db1', { memoryMiB: 2048 }), 'suspended');
    await deploy(driver, h!, containerSpec('idle'), 'defined');
    await sim.admin.crash(h!.id);
    await assert.rejects(driver.hostStatus(h!), unreachable(h!.name, /crashed/));
    await assert.rejects(driver.start(h!, 'idle'), unreachable(h!.name));
    await sim.admin.rejoin(h!.id);
    const s = await driver.hostStatus(h!);
    assert.deepEqual(s.containers.map((c) => [c.name, c.state, c.provisioned]).sort(), [
      ['db1', 'stopped', true],
      ['idle', 'defined', false],
      ['web1', 'stopped', true],
    ]);
    assert.equal(s.free.memoryMiB, 8192);
  });

  test('a partitioned host does not answer but its containers keep running', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'));
    await sim.admin.partition(h!.id);
    await assert.rejects(driver.containerStatus(h!, 'web1'), unreachable(h!.name, /partition/));
    assert.equal((await sim.admin.vm(h!.id, 'web1'))?.state, 'running');
    await sim.admin.rejoin(h!.id);
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'running');
  });

  test('migrating to a host that does not answer is unreachable, naming the target', async () => {
    const [a, b] = await addHosts(sim, 2);
    const spec = containerSpec('web1');
    await deploy(driver, a!, spec);
    await sim.admin.crash(b!.id);
    await assert.rejects(driver.migrate(a!, b!, spec, { live: true }), unreachable(b!.name));
    assert.equal((await driver.containerStatus(a!, 'web1'))?.state, 'running');
  });

  test('a refused connection is HostUnreachableError', async () => {
    const port = await getPort({ host: '127.0.0.1' });
    const host: HostRef = { id: 'x', name: 'hv-x', definition: { driver: 'sim', address: `http://127.0.0.1:${port}/hosts/x`, capacity: { cpus: 1, memoryMiB: 1, diskGiB: 1 } } };
    await assert.rejects(driver.hostStatus(host), unreachable('hv-x', /ECONNREFUSED/));
  });

  test('a host that accepts but never answers is HostUnreachableError after the request timeout', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const host: HostRef = { id: 'x', name: 'hv-silent', definition: { driver: 'sim', address: `http://127.0.0.1:${port}/hosts/x`, capacity: { cpus: 1, memoryMiB: 1, diskGiB: 1 } } };
    try {
      const began = Date.now();
      await assert.rejects(new SimDriver({ requestTimeoutMs: 200 }).hostStatus(host), unreachable('hv-silent', /no answer within 200 ms/));
      assert.ok(Date.now() - began < 2000);
    } finally {
      silent.close();
    }
  });
});

describe('tampering behind vmflow\'s back', () => {
  test('a state set by the admin is what the driver sees and obeys', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'));
    await sim.admin.setVm(h!.id, 'web1', { state: 'crashed' });
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'crashed');
    await driver.start(h!, 'web1');
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'running');
  });

  test('a VM added by the admin shows up in hostStatus and takes its memory', async () => {
    const [h] = await addHosts(sim, 1, { memoryMiB: 8192 });
    await sim.admin.addVm(h!.id, { name: 'rogue', memoryMiB: 4096, cpus: 2 });
    const s = await driver.hostStatus(h!);
    assert.deepEqual(s.containers.map((c) => [c.name, c.state, c.provisioned]), [['rogue', 'running', true]]);
    assert.equal(s.free.memoryMiB, 4096);
  });

  test('a VM removed by the admin is gone for the driver', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'));
    await sim.admin.removeVm(h!.id, 'web1');
    assert.equal(await driver.containerStatus(h!, 'web1'), undefined);
    assert.equal((await driver.hostStatus(h!)).free.diskGiB, 100);
  });
});
