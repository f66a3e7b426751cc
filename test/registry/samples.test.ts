// Host samples, run unchanged on SQLite and on MariaDB: what the monitor records per host and
// what the capacity chart reads back, per host and summed over the cluster.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../src/domain/errors';
import type { SqlRegistry } from '../../src/registry';
import { describeOnDatabases } from '../support/databases';
import { addContainer, addHost } from './fixtures';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

describeOnDatabases('host samples', (db) => {
  const fresh = (): Promise<SqlRegistry> => db().registry();

  test('records what containers use, what placeholders hold and what the host allows, and reads it back', async () => {
    const r = await fresh();
    const hv = await addHost(r, 'hv', { cpus: 8, memoryMiB: 16384, diskGiB: 500 }, { overcommit: { cpu: 2, memory: 1, disk: 1 } });
    await addContainer(r, 'web1', hv.id, { cpus: 2, memoryMiB: 2048, diskGiB: 20 });
    await r.claim({ hostId: hv.id, commandId: 'cmd-1', containerName: 'web2', resources: { cpus: 1, memoryMiB: 512, diskGiB: 5 }, ttlSeconds: 600 });
    assert.equal(await r.recordHostSample(hv.id, { at: at(0) }), true);
    const points = await r.samples({ hostId: hv.id, from: at(-60), to: at(60), stepSeconds: 60 });
    assert.deepEqual(points, [
      {
        at: at(0).toISOString(),
        hosts: 1,
        up: 1,
        allowance: { cpus: 16, memoryMiB: 16384, diskGiB: 500 },
        containers: { cpus: 2, memoryMiB: 2048, diskGiB: 20 },
        placeholders: { cpus: 1, memoryMiB: 512, diskGiB: 5 },
      },
    ]);
  });

  test('records at most one sample per host per spacing, and none for a host that does not exist', async () => {
    const r = await fresh();
    const hv = await addHost(r, 'hv');
    assert.equal(await r.recordHostSample(hv.id, { at: at(0), spacingSeconds: 60 }), true);
    assert.equal(await r.recordHostSample(hv.id, { at: at(30), spacingSeconds: 60 }), false);
    assert.equal(await r.recordHostSample(hv.id, { at: at(60), spacingSeconds: 60 }), true);
    assert.equal(await r.recordHostSample('00000000-0000-0000-0000-000000000000', { at: at(0) }), false);
    assert.equal((await r.rowCounts()).host_samples, 2);
  });

  test('removes samples past their keep time as new ones are recorded, of every host', async () => {
    const r = await fresh();
    const a = await addHost(r, 'hv-a');
    const b = await addHost(r, 'hv-b');
    await r.recordHostSample(a.id, { at: at(0) });
    await r.recordHostSample(b.id, { at: at(10) });
    await r.recordHostSample(a.id, { at: at(3601), keepSeconds: 3600 });
    assert.equal((await r.rowCounts()).host_samples, 2, 'the sample of hv-a at 0 is gone; hv-b at 10 stays');
    await r.recordHostSample(a.id, { at: at(3700), keepSeconds: 3600 });
    const left = await r.samples({ from: at(-60), to: at(4000), stepSeconds: 60 });
    assert.deepEqual(left.map((p) => p.at), [at(3600).toISOString(), at(3660).toISOString()]);
  });

  test('sums the cluster per bucket, each host once (its average there), and counts the hosts up', async () => {
    const r = await fresh();
    const a = await addHost(r, 'hv-a', { cpus: 4, memoryMiB: 4096, diskGiB: 100 });
    const b = await addHost(r, 'hv-b', { cpus: 8, memoryMiB: 8192, diskGiB: 200 });
    const web = await addContainer(r, 'web1', a.id, { cpus: 2, memoryMiB: 1024, diskGiB: 10 });
    await r.recordHostSample(a.id, { at: at(0), spacingSeconds: 10 });
    await r.recordHostSample(b.id, { at: at(5), spacingSeconds: 10 });
    await r.remove(web.id);
    await r.recordHostSample(a.id, { at: at(20), spacingSeconds: 10 });
    await r.update(b.id, undefined, { state: 'down' });
    await r.recordHostSample(b.id, { at: at(70), spacingSeconds: 10 });

    const points = await r.samples({ from: at(0), to: at(120), stepSeconds: 60 });
    assert.equal(points.length, 2);
    assert.deepEqual(points[0], {
      at: at(0).toISOString(),
      hosts: 2,
      up: 2,
      allowance: { cpus: 12, memoryMiB: 12288, diskGiB: 300 },
      containers: { cpus: 1, memoryMiB: 512, diskGiB: 5 },
      placeholders: { cpus: 0, memoryMiB: 0, diskGiB: 0 },
    });
    assert.equal(points[1]!.at, at(60).toISOString());
    assert.equal(points[1]!.hosts, 1);
    assert.equal(points[1]!.up, 0);
    assert.deepEqual(points[1]!.allowance, { cpus: 8, memoryMiB: 8192, diskGiB: 200 });

    const onlyA = await r.samples({ hostId: a.id, from: at(0), to: at(120), stepSeconds: 10 });
    assert.deepEqual(onlyA.map((p) => [p.at, p.containers.cpus]), [
      [at(0).toISOString(), 2],
      [at(20).toISOString(), 0],
    ]);
  });

  test('refuses a window that ends before it starts or has too many points', async () => {
    const r = await fresh();
    await assert.rejects(r.samples({ from: at(60), to: at(0), stepSeconds: 60 }), InvalidInputError);
    await assert.rejects(r.samples({ from: at(0), to: at(86400), stepSeconds: 1 }), /more than 1000 points/);
    await assert.rejects(r.samples({ from: at(0), to: at(60), stepSeconds: 0 }), InvalidInputError);
  });
});
