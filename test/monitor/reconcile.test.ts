// The pure rules of one poll: what changes, what does not, and when a host is down.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { META } from '../../src/domain/types';
import { reconcileHost, registryStateOf, type HostPoll } from '../../src/monitor/reconcile';

const now = new Date('2026-11-22T10:00:00Z');
const options = { now, downAfter: 3, contactEverySeconds: 60 };
const free = { cpus: 6, memoryMiB: 8192, diskGiB: 400 };

function poll(over: Partial<HostPoll> = {}): HostPoll {
  return {
    hostId: 'h1',
    hostName: 'hv-1',
    hostState: 'up',
    metadata: { [META.load]: 1, [META.free]: free, [META.lastContact]: '2026-11-22T09:59:30.000Z', [META.failuresInRow]: 0 },
    registered: [{ id: 'c1', name: 'web1', state: 'running', parentId: 'h1' }],
    claimed: new Set(),
    status: { load: 1, free, containers: [{ name: 'web1', state: 'running', cpus: 1, memoryMiB: 1024, diskGiB: 10, provisioned: true }] },
    ...over,
  };
}

test('a quiet host costs no write', () => {
  const v = reconcileHost(poll(), options);
  assert.deepEqual(v.metadata, {});
  assert.equal(v.state, undefined);
  assert.deepEqual([v.drifts, v.lost, v.found, v.unknown], [[], [], [], []]);
});

test('last contact is refreshed once it is older than the refresh period', () => {
  const v = reconcileHost(poll({ metadata: { ...poll().metadata, [META.lastContact]: '2026-11-22T09:58:00.000Z' } }), options);
  assert.deepEqual(v.metadata, { [META.lastContact]: now.toISOString() });
});

test('a VM stopped behind vmflow’s back is a drift to stopped', () => {
  const v = reconcileHost(poll({ status: { load: 1, free, containers: [{ name: 'web1', state: 'stopped', cpus: 1, memoryMiB: 1024, diskGiB: 10, provisioned: true }] } }), options);
  assert.deepEqual(v.drifts, [{ containerId: 'c1', name: 'web1', from: 'running', to: 'stopped' }]);
});

test('a migrating copy is not a drift, and a container still being created is left alone', () => {
  const migrating = reconcileHost(poll({ status: { load: 1, free, containers: [{ name: 'web1', state: 'migrating', cpus: 1, memoryMiB: 1024, diskGiB: 10, provisioned: true }] } }), options);
  assert.deepEqual(migrating.drifts, []);
  const fresh = reconcileHost(poll({ registered: [{ id: 'c1', name: 'web1', state: 'new', parentId: 'h1' }] }), options);
  assert.deepEqual(fresh.drifts, []);
});

test('a host is down only after K failed polls in a row, and then its containers are lost', () => {
  const failing = (n: number) => poll({ status: undefined, error: 'connection refused', metadata: { ...poll().metadata, [META.failuresInRow]: n } });
  const first = reconcileHost(failing(0), options);
  assert.equal(first.metadata[META.failuresInRow], 1);
  assert.equal(first.state, undefined);
  assert.deepEqual(first.lost, []);
  assert.equal(reconcileHost(failing(1), options).state, undefined);
  const third = reconcileHost(failing(2), options);
  assert.equal(third.state, 'down');
  assert.deepEqual(third.lost.map((c) => c.name), ['web1']);
});

test('a down host that answers is up, its failures reset, and its lost containers are found', () => {
  const v = reconcileHost(
    poll({
      hostState: 'down',
      metadata: { ...poll().metadata, [META.failuresInRow]: 4, [META.lastError]: 'refused' },
      registered: [{ id: 'c1', name: 'web1', state: 'lost', parentId: 'h1' }],
      status: { load: 0, free, containers: [{ name: 'web1', state: 'stopped', cpus: 1, memoryMiB: 1024, diskGiB: 10, provisioned: true }] },
    }),
    options,
  );
  assert.equal(v.state, 'up');
  assert.equal(v.metadata[META.failuresInRow], 0);
  assert.equal(v.metadata[META.lastError], null);
  assert.deepEqual(v.found, [{ containerId: 'c1', name: 'web1', from: 'lost', to: 'stopped' }]);
});

test('unknown VMs are orphan candidates with the time first seen, kept across polls; claimed ones are not', () => {
  const stray = { name: 'stray', state: 'running' as const, cpus: 1, memoryMiB: 512, diskGiB: 10, provisioned: true };
  const building = { ...stray, name: 'web2' };
  const status = { load: 1, free, containers: [poll().status!.containers[0]!, stray, building] };
  const v = reconcileHost(poll({ status, claimed: new Set(['web2']) }), options);
  assert.deepEqual(v.unknown, ['stray']);
  assert.deepEqual(v.metadata[META.orphans], { stray: now.toISOString() });
  const later = reconcileHost(poll({ status, claimed: new Set(['web2']), metadata: { ...poll().metadata, [META.orphans]: { stray: '2026-11-22T09:00:00.000Z' } } }), options);
  assert.equal(later.metadata[META.orphans], undefined, 'an unchanged orphan list is not written again');
});

test('observed states map onto registry states', () => {
  assert.equal(registryStateOf('defined'), 'stopped');
  assert.equal(registryStateOf('crashed'), 'stopped');
  assert.equal(registryStateOf('suspended'), 'suspended');
  assert.equal(registryStateOf('migrating'), undefined);
});
