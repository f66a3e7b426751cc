// The farm answering for many hosts at once (POST /statuses), as a fleet of agents would in
// parallel, and a large fleet added in one call.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SimDriver } from '../../src/drivers/sim';
import type { HostStatus } from '../../src/drivers/driver';
import { startSim, type TestSim } from '../support/sim';

describe('sim fleet endpoints', () => {
  let sim: TestSim;

  before(async () => {
    sim = await startSim();
    const hosts = Array.from({ length: 50 }, (_, i) => ({ id: `f${i}`, cpus: 8, memoryMiB: 8192, diskGiB: 100 }));
    const added = await sim.admin.addFleet({ hosts, vms: hosts.flatMap((h) => [0, 1].map((k) => ({ host: h.id, name: `${h.id}-vm${k}`, uuid: `${h.id}-${k}`, cpus: 1, memoryMiB: 1024, diskGiB: 10 }))) });
    assert.deepEqual(added, { hosts: 50, vms: 100 });
    await sim.admin.crash('f3');
    await sim.admin.setDelays({ hostStatus: 3000 }, 'f4');
  });
  after(async () => {
    await sim?.stop();
  });

  test('answers for every host in one request: a status for each that answers, an error in the place of each that does not', async () => {
    const refs = [...Array.from({ length: 50 }, (_, i) => sim.hostRef(`f${i}`)), sim.hostRef('nowhere')];
    const started = Date.now();
    const answers = await new SimDriver().hostStatuses(refs, { progress: () => undefined, timeoutMs: 500 });
    assert.ok(Date.now() - started < 2500, 'the slow host held the others up');
    assert.equal(answers.length, 51);
    const ok = answers.filter((a): a is HostStatus => !(a instanceof Error));
    assert.equal(ok.length, 48);
    for (const s of ok) assert.deepEqual(s.containers.map((c) => c.state), ['running', 'running']);
    assert.match(String(answers[3]), /f3|crash/);
    assert.match(String(answers[4]), /500 ms/);
    assert.match(String(answers[50]), /nowhere/);
    const single = await new SimDriver().hostStatus(sim.hostRef('f7'));
    assert.deepEqual(answers[7], single);
  });
});
