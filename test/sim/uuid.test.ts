// A VM's uuid is the registry id of the spec it was defined or cloned with: the host reports it,
// a migration keeps it, the sim's state file keeps it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { HostRef } from '../../src/drivers/driver';
import { SimDriver } from '../../src/drivers/sim';
import { runSim, SimAdmin, STATE_FILE } from '../../src/sim';
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

async function reportedUuids(host: HostRef, name: string): Promise<{ status?: string; listed?: string }> {
  const status = await driver.containerStatus(host, name);
  const listed = (await driver.hostStatus(host)).containers.find((c) => c.name === name);
  return { status: status?.uuid, listed: listed?.uuid };
}

test('the uuid a VM was defined with is reported, and survives live and cold migration and a killed sim', async () => {
  const [a, b] = await addHosts(sim, 2);
  const spec = containerSpec('web1');
  await deploy(driver, a!, spec);
  assert.deepEqual(await reportedUuids(a!, 'web1'), { status: 'id-web1', listed: 'id-web1' });

  await driver.migrate(a!, b!, spec, { live: true });
  assert.deepEqual(await reportedUuids(b!, 'web1'), { status: 'id-web1', listed: 'id-web1' });

  await driver.stop(b!, 'web1');
  await driver.migrate(b!, a!, spec, { live: false });
  assert.deepEqual(await reportedUuids(a!, 'web1'), { status: 'id-web1', listed: 'id-web1' });

  await sim.restart({ signal: 'SIGKILL' });
  assert.deepEqual(await reportedUuids(a!, 'web1'), { status: 'id-web1', listed: 'id-web1' });
  assert.equal((await sim.admin.vm(a!.id, 'web1'))?.uuid, 'id-web1');
});

test('a clone carries the id of its own spec, not the id of its source', async () => {
  const [a, b] = await addHosts(sim, 2);
  await deploy(driver, a!, containerSpec('gold'), 'stopped');
  await driver.clone(a!, 'gold', b!, containerSpec('copy'));
  assert.deepEqual(await reportedUuids(b!, 'copy'), { status: 'id-copy', listed: 'id-copy' });
  assert.deepEqual(await reportedUuids(a!, 'gold'), { status: 'id-gold', listed: 'id-gold' });
});

test('an unknown VM the admin adds has no uuid unless it is given one', async () => {
  const [h] = await addHosts(sim, 1);
  await sim.admin.addVm(h!.id, { name: 'stray' });
  await sim.admin.addVm(h!.id, { name: 'known', uuid: 'registry-7' });
  const stray = await driver.containerStatus(h!, 'stray');
  assert.ok(stray && !('uuid' in stray), 'a VM without a uuid reports none');
  assert.deepEqual(await reportedUuids(h!, 'known'), { status: 'registry-7', listed: 'registry-7' });
});

test('a state file written before uuids and pure-rand generators still loads', async () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'vmflow-sim-old-state-'));
  const vm = { state: 'running', cpus: 1, memoryMiB: 512, diskGiB: 10, configs: {}, ignoresShutdown: false };
  const old = {
    format: 'vmflow-sim/1',
    savedAt: '2024-01-01T00:00:00.000Z',
    delays: {},
    ruleSeq: 1,
    rules: [{ id: 'rule-1', operation: 'reboot', probability: 0.5, seed: 1, fired: 0, rng: 123456789 }],
    hosts: [
      {
        id: 'hv-old',
        capacity: { cpus: 8, memoryMiB: 8192, diskGiB: 100 },
        baseLoad: 0,
        power: 'up',
        delays: {},
        // Older files kept the spec's id as `id`, and VMs without one had neither field.
        vms: [
          { name: 'named', id: 'id-named', ...vm },
          { name: 'bare', ...vm },
        ],
        volumes: [
          { name: 'named', diskGiB: 10 },
          { name: 'bare', diskGiB: 10 },
        ],
      },
    ],
  };
  writeFileSync(path.join(stateDir, STATE_FILE), JSON.stringify(old));
  try {
    let running = await runSim({ port: 0, stateDir });
    let admin = new SimAdmin(running.url);
    try {
      const host = (await admin.host('hv-old')).vms;
      assert.deepEqual(host.map((v) => [v.name, v.uuid]), [['named', 'id-named'], ['bare', undefined]]);
      assert.deepEqual((await admin.failures()).map((r) => [r.id, r.probability]), [['rule-1', 0.5]]);
      // The rule's old 32-bit generator state seeds its new generator: it still draws.
      const address = admin.hostAddress('hv-old');
      const ref: HostRef = { id: 'hv-old', name: 'hv-old', definition: { driver: 'sim', address, capacity: old.hosts[0]!.capacity } };
      const failed: boolean[] = [];
      for (let i = 0; i < 16; i++) failed.push(await driver.reboot(ref, 'named').then(() => false, () => true));
      assert.ok(failed.includes(true) && failed.includes(false), `expected some of 16 reboots to fail: ${failed.join(',')}`);
      assert.equal((await admin.failures())[0]?.fired, failed.filter(Boolean).length);
    } finally {
      await running.close();
    }
    const saved = JSON.parse(readFileSync(path.join(stateDir, STATE_FILE), 'utf8')) as {
      hosts: Array<{ vms: Array<{ name: string; id?: string; uuid?: string }> }>;
    };
    const named = saved.hosts[0]!.vms.find((v) => v.name === 'named');
    assert.deepEqual([named?.id, named?.uuid], [undefined, 'id-named'], 'saved again under its new name');
    running = await runSim({ port: 0, stateDir });
    admin = new SimAdmin(running.url);
    try {
      assert.equal((await admin.vm('hv-old', 'named'))?.uuid, 'id-named');
    } finally {
      await running.close();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});
