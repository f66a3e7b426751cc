// An environment's members claimed together: placed on the working copy as a group and claimed in
// one registry transaction, all or nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Placer } from '../../src/allocator/placer';
import { NoCapacityError } from '../../src/domain/errors';
import { openRegistry, type SqlRegistry } from '../../src/registry';
import { addHost } from '../registry/fixtures';
import { request } from './builders';

const cpus = (n: number, name: string) => request(name, { resources: { cpus: n, memoryMiB: 1, diskGiB: 1 } });
const base = (commandId: string) => ({ commandId, containerName: commandId, ttlSeconds: 60 });

describe('claiming an environment all or nothing', () => {
  let dir: string;
  let registry: SqlRegistry;
  let hosts: string[];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-claim-all-'));
    registry = await openRegistry({ url: `sqlite:${path.join(dir, 'registry.sqlite')}` });
    hosts = [(await addHost(registry, 'hv-a', { cpus: 4, memoryMiB: 1024, diskGiB: 100 })).id, (await addHost(registry, 'hv-b', { cpus: 4, memoryMiB: 1024, diskGiB: 100 })).id];
  });
  after(async () => {
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('claims every member in one call, each on a host with room', async () => {
    const placer = new Placer(registry);
    const { placeholders } = await placer.placeAllAndClaim([cpus(2, 'web'), cpus(2, 'db'), cpus(3, 'lb')], [base('env-web'), base('env-db'), base('env-lb')]);
    assert.equal(placeholders.length, 3);
    for (const id of hosts) assert.ok((await registry.usage(id)).cpus <= 4);
    assert.equal((await registry.usage(hosts[0]!)).cpus + (await registry.usage(hosts[1]!)).cpus, 7);
  });

  it('claims none when one member does not fit, and writes nothing', async () => {
    const before = await registry.rowCounts();
    const placer = new Placer(registry);
    await assert.rejects(placer.placeAllAndClaim([cpus(1, 'small'), cpus(4, 'big')], [base('env2-small'), base('env2-big')]), NoCapacityError);
    assert.deepEqual(await registry.rowCounts(), before);
    assert.equal(await registry.findByKey('claim:env2-small'), undefined);
  });

  it('the registry refuses a batch whose second claim overfills the host the first one took, writing nothing', async () => {
    const before = await registry.rowCounts();
    const free = 4 - (await registry.usage(hosts[0]!)).cpus;
    const claim = (commandId: string, n: number) => ({ ...base(commandId), hostId: hosts[0]!, resources: { cpus: n, memoryMiB: 1, diskGiB: 1 } });
    await assert.rejects(registry.claimAll([claim('env3-a', free), claim('env3-b', 1)]), NoCapacityError);
    assert.deepEqual(await registry.rowCounts(), before);
  });
});
