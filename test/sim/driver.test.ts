// The sim driver against a real sim process, no delays: each operation and each refusal.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DriverError, HostUnreachableError } from '../../src/domain/errors';
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

/** Matches a DriverError of `operation` whose message matches `pattern`. */
function refused(operation: string, pattern: RegExp, hostName?: string) {
  return (err: unknown) => {
    assert.ok(err instanceof DriverError, `expected a DriverError, got ${String(err)}`);
    assert.equal(err.driver, 'sim');
    assert.equal(err.operation, operation);
    assert.equal(err.permanent, true);
    if (hostName) assert.equal(err.host, hostName);
    assert.match(err.driverMessage, pattern);
    return true;
  };
}

describe('define, provision and undefine', () => {
  test('define makes a container the host reports as defined and without a disk', async () => {
    const [h] = await addHosts(sim, 1);
    await driver.define(h!, containerSpec('web1', { cpus: 2, memoryMiB: 2048, diskGiB: 20 }));
    const c = await driver.containerStatus(h!, 'web1');
    assert.deepEqual(c, {
      name: 'web1',
      uuid: 'id-web1',
      state: 'defined',
      cpus: 2,
      memoryMiB: 2048,
      diskGiB: 20,
      mac: '02:00:0a:00:00:05',
      provisioned: false,
    });
  });

  test('defining a name the host already has is refused', async () => {
    const [h] = await addHosts(sim, 1);
    await driver.define(h!, containerSpec('web1'));
    await assert.rejects(driver.define(h!, containerSpec('web1')), refused('define', /web1 is already defined/, h!.name));
  });

  test('provision takes the disk from the host and marks the container provisioned', async () => {
    const [h] = await addHosts(sim, 1, { diskGiB: 100 });
    await driver.define(h!, containerSpec('db1', { diskGiB: 30 }));
    await driver.provision(h!, containerSpec('db1', { diskGiB: 30 }));
    const status = await driver.hostStatus(h!);
    assert.equal(status.free.diskGiB, 70);
    assert.equal((await driver.containerStatus(h!, 'db1'))?.provisioned, true);
  });

  test('provision refuses a disk larger than the free disk, and a second disk', async () => {
    const [h] = await addHosts(sim, 1, { diskGiB: 50 });
    await driver.define(h!, containerSpec('big', { diskGiB: 60 }));
    await assert.rejects(
      driver.provision(h!, containerSpec('big', { diskGiB: 60 })),
      refused('provision', /not enough free disk .* needs 60 GiB, 50 GiB of 50 GiB are free/),
    );
    await deploy(driver, h!, containerSpec('small', { diskGiB: 10 }), 'defined');
    await driver.provision(h!, containerSpec('small', { diskGiB: 10 }));
    await assert.rejects(driver.provision(h!, containerSpec('small', { diskGiB: 10 })), refused('provision', /already has a disk/));
  });

  test('undefine refuses a running container and removes a stopped one, whose disk stays until deprovision', async () => {
    const [h] = await addHosts(sim, 1, { diskGiB: 100 });
    await deploy(driver, h!, containerSpec('web1', { diskGiB: 10 }));
    await assert.rejects(driver.undefine(h!, 'web1'), refused('undefine', /web1 is running; stop it/));
    await driver.stop(h!, 'web1');
    await driver.undefine(h!, 'web1');
    assert.equal(await driver.containerStatus(h!, 'web1'), undefined);
    assert.equal((await driver.hostStatus(h!)).free.diskGiB, 90);
    await driver.deprovision(h!, 'web1');
    assert.equal((await driver.hostStatus(h!)).free.diskGiB, 100);
  });

  test('undefine refuses a suspended container', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'), 'suspended');
    await assert.rejects(driver.undefine(h!, 'web1'), refused('undefine', /web1 is suspended/));
  });

  test('deprovision refuses a running container and one without a disk', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'));
    await assert.rejects(driver.deprovision(h!, 'web1'), refused('deprovision', /web1 is running/));
    await driver.define(h!, containerSpec('bare'));
    await assert.rejects(driver.deprovision(h!, 'bare'), refused('deprovision', /bare has no disk/));
  });

  test('operations on a container the host does not know are refused, naming the host', async () => {
    const [h] = await addHosts(sim, 1);
    await assert.rejects(driver.start(h!, 'ghost'), refused('start', /ghost is not defined on/, h!.name));
    await assert.rejects(driver.undefine(h!, 'ghost'), refused('undefine', /ghost is not defined/));
    assert.equal(await driver.containerStatus(h!, 'ghost'), undefined);
  });
});

describe('power', () => {
  test('start refuses a container without a disk', async () => {
    const [h] = await addHosts(sim, 1);
    await driver.define(h!, containerSpec('web1'));
    await assert.rejects(driver.start(h!, 'web1'), refused('start', /no disk; provision it first/));
  });

  test('start runs the container and holds its memory and vCPUs; stop gives them back', async () => {
    const [h] = await addHosts(sim, 1, { cpus: 8, memoryMiB: 8192 });
    await deploy(driver, h!, containerSpec('web1', { cpus: 2, memoryMiB: 3072 }));
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'running');
    let status = await driver.hostStatus(h!);
    assert.deepEqual([status.free.memoryMiB, status.free.cpus], [5120, 6]);
    assert.equal(status.load, 1);
    await driver.stop(h!, 'web1');
    status = await driver.hostStatus(h!);
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'stopped');
    assert.deepEqual([status.free.memoryMiB, status.free.cpus, status.load], [8192, 8, 0]);
  });

  test('starting a running container and stopping a stopped one are refused', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'));
    await assert.rejects(driver.start(h!, 'web1'), refused('start', /already running/));
    await driver.stop(h!, 'web1');
    await assert.rejects(driver.stop(h!, 'web1'), refused('stop', /not running \(it is stopped\)/));
  });

  test('a start that does not fit in free memory is refused with the numbers', async () => {
    const [h] = await addHosts(sim, 1, { memoryMiB: 4096 });
    await deploy(driver, h!, containerSpec('a', { memoryMiB: 3072 }));
    await deploy(driver, h!, containerSpec('b', { memoryMiB: 2048 }), 'defined');
    await driver.provision(h!, containerSpec('b', { memoryMiB: 2048 }));
    await assert.rejects(
      driver.start(h!, 'b'),
      refused('start', /not enough free memory .* for b: it needs 2048 MiB, 1024 MiB of 4096 MiB are free/),
    );
    assert.equal((await driver.containerStatus(h!, 'b'))?.state, 'defined');
  });

  test('a suspended container keeps its memory', async () => {
    const [h] = await addHosts(sim, 1, { memoryMiB: 4096 });
    await deploy(driver, h!, containerSpec('a', { memoryMiB: 3072 }), 'suspended');
    assert.equal((await driver.hostStatus(h!)).free.memoryMiB, 1024);
    await deploy(driver, h!, containerSpec('b', { memoryMiB: 2048 }), 'defined');
    await driver.provision(h!, containerSpec('b', { memoryMiB: 2048 }));
    await assert.rejects(driver.start(h!, 'b'), refused('start', /not enough free memory/));
  });

  test('suspend works only from running and resume only from suspended', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'), 'stopped');
    await assert.rejects(driver.suspend(h!, 'web1'), refused('suspend', /web1 is stopped, not running/));
    await assert.rejects(driver.resume(h!, 'web1'), refused('resume', /web1 is stopped, not suspended/));
    await driver.start(h!, 'web1');
    await assert.rejects(driver.resume(h!, 'web1'), refused('resume', /web1 is running, not suspended/));
    await driver.suspend(h!, 'web1');
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'suspended');
    await assert.rejects(driver.start(h!, 'web1'), refused('start', /suspended; resume it instead/));
    await driver.resume(h!, 'web1');
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'running');
  });

  test('stop powers off a suspended container', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'), 'suspended');
    await driver.stop(h!, 'web1');
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'stopped');
  });

  test('reboot needs a running container and leaves it running', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'), 'stopped');
    await assert.rejects(driver.reboot(h!, 'web1'), refused('reboot', /web1 is stopped, not running/));
    await driver.start(h!, 'web1');
    await driver.reboot(h!, 'web1');
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'running');
  });

  test('shutdown stops a running container and is refused for a stopped or suspended one', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('web1'));
    await driver.shutdown(h!, 'web1', 5000);
    assert.equal((await driver.containerStatus(h!, 'web1'))?.state, 'stopped');
    await assert.rejects(driver.shutdown(h!, 'web1', 5000), refused('shutdown', /web1 is stopped, not running/));
    await driver.start(h!, 'web1');
    await driver.suspend(h!, 'web1');
    await assert.rejects(driver.shutdown(h!, 'web1', 5000), refused('shutdown', /suspended; resume it or stop it/));
  });

  test('a guest that ignores shutdown is forced off once the timeout has passed', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('stubborn'));
    await sim.admin.setVm(h!.id, 'stubborn', { ignoresShutdown: true });
    const began = Date.now();
    await driver.shutdown(h!, 'stubborn', 300);
    assert.ok(Date.now() - began >= 290, `shutdown returned after ${Date.now() - began} ms, before its timeout`);
    assert.equal((await driver.containerStatus(h!, 'stubborn'))?.state, 'stopped');
  });
});

describe('clone', () => {
  test('clone makes a stopped copy with its own disk and the config files on the target', async () => {
    const [a, b] = await addHosts(sim, 2, { diskGiB: 100 });
    await deploy(driver, a!, containerSpec('gold', { diskGiB: 20 }), 'stopped');
    await driver.applyConfig(a!, 'gold', '/etc/app.conf', 'port=80');
    await driver.clone(a!, 'gold', b!, containerSpec('copy', { diskGiB: 20 }));
    assert.deepEqual(
      { ...(await driver.containerStatus(b!, 'copy')) },
      { name: 'copy', uuid: 'id-copy', state: 'stopped', cpus: 1, memoryMiB: 1024, diskGiB: 20, mac: '02:00:0a:00:00:05', provisioned: true },
    );
    assert.equal(await driver.readConfig(b!, 'copy', '/etc/app.conf'), 'port=80');
    assert.equal((await driver.hostStatus(b!)).free.diskGiB, 80);
    assert.equal((await driver.containerStatus(a!, 'gold'))?.state, 'stopped');
    // Its own disk: removing the source's leaves the copy's.
    await driver.deprovision(a!, 'gold');
    assert.equal((await driver.containerStatus(b!, 'copy'))?.provisioned, true);
  });

  test('clone onto the same host works under a new name', async () => {
    const [a] = await addHosts(sim, 1, { diskGiB: 100 });
    await deploy(driver, a!, containerSpec('gold', { diskGiB: 20 }), 'stopped');
    await driver.clone(a!, 'gold', a!, containerSpec('gold-2', { diskGiB: 20 }));
    assert.deepEqual((await driver.hostStatus(a!)).containers.map((c) => c.name).sort(), ['gold', 'gold-2']);
  });

  test('clone refuses a running source, a source without a disk, a taken name and a full target', async () => {
    const [a, b] = await addHosts(sim, 2, { diskGiB: 30 });
    await deploy(driver, a!, containerSpec('web1', { diskGiB: 20 }));
    await assert.rejects(driver.clone(a!, 'web1', b!, containerSpec('c1')), refused('clone', /web1 is running; only a stopped/));
    await driver.define(a!, containerSpec('bare'));
    await assert.rejects(driver.clone(a!, 'bare', b!, containerSpec('c2')), refused('clone', /bare has no disk to copy/));
    await driver.stop(a!, 'web1');
    await driver.define(b!, containerSpec('taken'));
    await assert.rejects(driver.clone(a!, 'web1', b!, containerSpec('taken')), refused('clone', /taken is already defined on/));
    await assert.rejects(
      driver.clone(a!, 'web1', b!, containerSpec('c3', { diskGiB: 40 })),
      refused('clone', /not enough free disk .* for c3/),
    );
  });
});

describe('migrate', () => {
  test('cold migration moves the definition, the disk and the config files', async () => {
    const [a, b] = await addHosts(sim, 2, { diskGiB: 100 });
    const spec = containerSpec('web1', { diskGiB: 25 });
    await deploy(driver, a!, spec, 'stopped');
    await driver.applyConfig(a!, 'web1', '/etc/nginx/upstream.conf', 'server 10.0.0.7;');
    await driver.migrate(a!, b!, spec, { live: false });
    assert.equal(await driver.containerStatus(a!, 'web1'), undefined);
    assert.deepEqual([(await driver.containerStatus(b!, 'web1'))?.state, (await driver.containerStatus(b!, 'web1'))?.provisioned], ['stopped', true]);
    assert.equal(await driver.readConfig(b!, 'web1', '/etc/nginx/upstream.conf'), 'server 10.0.0.7;');
    assert.deepEqual([(await driver.hostStatus(a!)).free.diskGiB, (await driver.hostStatus(b!)).free.diskGiB], [100, 75]);
  });

  test('live migration ends with the container running on the target only, its memory moved', async () => {
    const [a, b] = await addHosts(sim, 2, { memoryMiB: 8192 });
    const spec = containerSpec('web1', { memoryMiB: 2048 });
    await deploy(driver, a!, spec);
    await driver.applyConfig(a!, 'web1', '/etc/motd', 'hello');
    await driver.migrate(a!, b!, spec, { live: true });
    assert.equal(await driver.containerStatus(a!, 'web1'), undefined);
    assert.equal((await driver.containerStatus(b!, 'web1'))?.state, 'running');
    assert.equal(await driver.readConfig(b!, 'web1', '/etc/motd'), 'hello');
    assert.deepEqual([(await driver.hostStatus(a!)).free.memoryMiB, (await driver.hostStatus(b!)).free.memoryMiB], [8192, 6144]);
  });

  test('cold migration refuses a running container and live migration a stopped one', async () => {
    const [a, b] = await addHosts(sim, 2);
    const spec = containerSpec('web1');
    await deploy(driver, a!, spec);
    await assert.rejects(driver.migrate(a!, b!, spec, { live: false }), refused('migrate', /cannot migrate web1 cold: it is running/));
    await driver.stop(a!, 'web1');
    await assert.rejects(driver.migrate(a!, b!, spec, { live: true }), refused('migrate', /cannot migrate web1 live: it is stopped/));
  });

  test('live migration refuses a target without the free memory, and a target that has the name', async () => {
    const [a, b] = await addHosts(sim, 2, { memoryMiB: 4096 });
    const spec = containerSpec('big', { memoryMiB: 3072 });
    await deploy(driver, a!, spec);
    await deploy(driver, b!, containerSpec('filler', { memoryMiB: 2048 }));
    await assert.rejects(driver.migrate(a!, b!, spec, { live: true }), refused('migrate', /not enough free memory on .* for big/));
    await driver.define(b!, containerSpec('big'));
    await assert.rejects(driver.migrate(a!, b!, spec, { live: true }), refused('migrate', /big is already defined on/));
    assert.equal((await driver.containerStatus(a!, 'big'))?.state, 'running');
  });

  test('migrating to the host the container is on is refused', async () => {
    const [a] = await addHosts(sim, 1);
    const spec = containerSpec('web1');
    await deploy(driver, a!, spec);
    await assert.rejects(driver.migrate(a!, a!, spec, { live: true }), refused('migrate', /web1 is already on/));
  });
});

describe('config files and status', () => {
  test('applyConfig writes a file readConfig reads back and listConfig lists; a missing file reads as undefined', async () => {
    const [h] = await addHosts(sim, 1);
    await deploy(driver, h!, containerSpec('lb1'));
    assert.deepEqual(await driver.listConfig(h!, 'lb1'), []);
    await driver.applyConfig(h!, 'lb1', '/etc/haproxy/backends', 'web1 10.0.0.5\n');
    await driver.applyConfig(h!, 'lb1', '/etc/haproxy/backends', 'web1 10.0.0.5\nweb2 10.0.0.6\n');
    assert.equal(await driver.readConfig(h!, 'lb1', '/etc/haproxy/backends'), 'web1 10.0.0.5\nweb2 10.0.0.6\n');
    assert.equal(await driver.readConfig(h!, 'lb1', '/etc/other'), undefined);
    await driver.applyConfig(h!, 'lb1', '/etc/app.conf', 'x');
    assert.deepEqual(await driver.listConfig(h!, 'lb1'), ['/etc/app.conf', '/etc/haproxy/backends']);
    await assert.rejects(driver.readConfig(h!, 'ghost', '/etc/other'), refused('readConfig', /ghost is not defined/));
    await assert.rejects(driver.listConfig(h!, 'ghost'), refused('listConfig', /ghost is not defined/));
  });

  test('hostStatus reports capacity, free resources, load and every container', async () => {
    const [h] = await addHosts(sim, 1, { cpus: 16, memoryMiB: 16384, diskGiB: 200 });
    await deploy(driver, h!, containerSpec('a', { cpus: 4, memoryMiB: 4096, diskGiB: 40 }));
    await deploy(driver, h!, containerSpec('b', { cpus: 2, memoryMiB: 1024, diskGiB: 10 }), 'stopped');
    const s = await driver.hostStatus(h!);
    assert.equal(s.reachable, true);
    assert.deepEqual(s.capacity, { cpus: 16, memoryMiB: 16384, diskGiB: 200 });
    assert.deepEqual(s.free, { cpus: 12, memoryMiB: 12288, diskGiB: 150 });
    assert.equal(s.load, 2);
    assert.deepEqual(s.containers.map((c) => [c.name, c.state]).sort(), [
      ['a', 'running'],
      ['b', 'stopped'],
    ]);
  });

  test('an address of a host the farm does not have is unreachable', async () => {
    const ghost = { id: 'nope', name: 'nope', definition: { driver: 'sim' as const, address: sim.hostAddress('nope'), capacity: { cpus: 1, memoryMiB: 1, diskGiB: 1 } } };
    await assert.rejects(driver.hostStatus(ghost), (err: unknown) => {
      assert.ok(err instanceof HostUnreachableError);
      assert.equal(err.host, 'nope');
      assert.match(err.message, /has no host nope/);
      return true;
    });
  });
});
