// The fleet in ranges of host ids, on SQLite and on MariaDB: every centrally polled host in
// exactly one range, agent-polled hosts apart, a range read back in one query; VM names' owners
// read in one query.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostBatches, hostsIn } from '../../src/monitor/host-batches';
import { describeOnDatabases } from '../support/databases';
import { addContainer, addHost } from './fixtures';

describeOnDatabases('host ranges', (db) => {
  test('7 central hosts in ranges of 3: 3, 3 and 1, each host once; the agent-polled host apart', async () => {
    const r = await db().registry();
    const central = [];
    for (let i = 0; i < 7; i++) central.push(await addHost(r, `hv-${i}`));
    const agent = await addHost(r, 'hv-agent', undefined, { agentQueue: 'agent-hv' });
    const batches = await hostBatches(r, 3);
    assert.equal(batches.hosts, 8);
    assert.deepEqual(batches.agents, [agent.id]);
    assert.equal(batches.ranges.length, 3);
    assert.equal(batches.ranges[0]!.after, null);
    const read = [];
    for (const range of batches.ranges) read.push((await hostsIn(r, range)).map((h) => h.name));
    assert.deepEqual(read.map((names) => names.length), [3, 3, 1]);
    assert.deepEqual(read.flat().sort(), central.map((h) => h.name).sort(), 'every central host once, the agent-polled one in none');
    await assert.rejects(hostBatches(r, 0), /batch size must be a whole number >= 1/);
  });

  test('the owners of many names in one call: those that exist', async () => {
    const r = await db().registry();
    const host = await addHost(r, 'hv-owners');
    for (const name of ['o-1', 'o-2', 'o-3']) await addContainer(r, name, host.id);
    const found = await r.findManyByName(['o-1', 'o-3', 'o-3', 'nobody']);
    assert.deepEqual(found.map((n) => n.name).sort(), ['o-1', 'o-3']);
    assert.ok(found.every((n) => n.parentId === host.id && n.keys.includes(`name:${n.name}`)));
    assert.deepEqual(await r.findManyByName([]), []);
  });
});
