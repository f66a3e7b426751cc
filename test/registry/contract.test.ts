// The registry's contract, run unchanged on SQLite and on MariaDB.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import {
  HasChildrenError,
  InvalidInputError,
  KeyConflictError,
  NoCapacityError,
  NotFoundError,
  VersionConflictError,
} from '../../src/domain/errors';
import { META, type PlaceholderDefinition } from '../../src/domain/types';
import type { SqlRegistry } from '../../src/registry';
import { describeOnDatabases } from '../support/databases';
import { addContainer, addHost, assertRefusedUnchanged, containerDefinition, hypervisorDefinition } from './fixtures';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeOnDatabases('registry contract', (db) => {
  const fresh = (): Promise<SqlRegistry> => db().registry();

  test('adds a node with its name key, extra keys and tags, readable by id, name and key', async () => {
    const r = await fresh();
    const node = await r.add({
      type: 'container',
      name: 'web1',
      definition: containerDefinition(),
      state: 'new',
      metadata: { 'vmflow.lastCommand': 'c1' },
      tags: { team: 'blue', tier: 'front' },
      keys: ['ip:10.0.0.5', 'mac:02:00:0a:00:00:05'],
    });
    assert.match(node.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(node.keys, ['ip:10.0.0.5', 'mac:02:00:0a:00:00:05', 'name:web1']);
    assert.deepEqual(node.tags, { team: 'blue', tier: 'front' });
    assert.equal(node.version, 1);
    assert.equal(node.parentId, null);
    assert.match(node.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(node.updatedAt, node.createdAt);
    assert.deepEqual(await r.get(node.id), node);
    assert.deepEqual(await r.getByName('web1'), node);
    assert.deepEqual(await r.getByKey('ip:10.0.0.5'), node);
    assert.deepEqual(await r.findByKey('mac:02:00:0a:00:00:05'), node);
    assert.equal(await r.findByKey('ip:10.0.0.6'), undefined);
    assert.equal(await r.find(randomUUID()), undefined);
    await assert.rejects(r.get(randomUUID()), NotFoundError);
    await assert.rejects(r.getByName('nope'), NotFoundError);
    await assert.rejects(r.getByKey('ip:10.0.0.6'), NotFoundError);
  });

  test('refuses a second owner for ip:10.0.0.5, names the owner and writes nothing', async () => {
    const r = await fresh();
    const first = await r.add({ type: 'container', name: 'a', definition: {}, state: 'new', keys: ['ip:10.0.0.5'] });
    await assertRefusedUnchanged(
      r,
      () => r.add({ type: 'container', name: 'b', definition: {}, state: 'new', keys: ['mac:02:00:00:00:00:01', 'ip:10.0.0.5'], tags: { t: '1' } }),
      { name: 'KeyConflictError', key: 'ip:10.0.0.5', ownerId: first.id, ownerName: 'a' },
    );
    assert.equal(await r.findByName('b'), undefined);
    assert.equal(await r.findByKey('mac:02:00:00:00:00:01'), undefined, 'the loser kept one of its keys');
  });

  test('adds all or nothing: a failure after the node and keys were written leaves no trace', async () => {
    const r = await fresh();
    // A trigger makes the last step of add (its tags) fail after the node and key rows went in.
    if (r.dialect === 'sqlite') {
      await r.dataSource.query(`CREATE TRIGGER refuse_tag BEFORE INSERT ON node_tags WHEN NEW.tag_key = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned tag'); END`);
    } else {
      await r.dataSource.query(
        `CREATE TRIGGER refuse_tag BEFORE INSERT ON node_tags FOR EACH ROW BEGIN IF NEW.tag_key = 'poison' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned tag'; END IF; END`,
      );
    }
    await assertRefusedUnchanged(
      r,
      () => r.add({ type: 'container', name: 'doomed', definition: {}, state: 'new', keys: ['ip:10.0.0.66'], tags: { ok: '1', poison: '1' } }),
      (err: unknown) => /poisoned tag/.test(String(err)),
    );
    assert.equal(await r.findByName('doomed'), undefined);
    assert.equal(await r.findByKey('ip:10.0.0.66'), undefined);
    const survivor = await r.add({ type: 'container', name: 'doomed', definition: {}, state: 'new', keys: ['ip:10.0.0.66'], tags: { ok: '1' } });
    await assertRefusedUnchanged(r, () => r.update(survivor.id, undefined, { state: 'running', tags: { poison: '1' } }), (err: unknown) => /poisoned tag/.test(String(err)));
    assert.deepEqual(await r.get(survivor.id), survivor, 'the failed update kept some of its changes');
  });

  test('refuses a taken name with a conflict on name:<name>', async () => {
    const r = await fresh();
    const first = await r.add({ type: 'environment', name: 'shop', definition: {}, state: 'active' });
    await assertRefusedUnchanged(r, () => r.add({ type: 'container', name: 'shop', definition: {}, state: 'new' }), {
      name: 'KeyConflictError',
      key: 'name:shop',
      ownerId: first.id,
    });
  });

  test('refuses a name: key passed by hand', async () => {
    const r = await fresh();
    await assertRefusedUnchanged(r, () => r.add({ type: 'container', name: 'c', definition: {}, state: 'new', keys: ['name:other'] }), (err: unknown) => {
      assert.ok(err instanceof InvalidInputError);
      assert.deepEqual(err.problems.map((p) => p.field), ['keys[0]']);
      return true;
    });
    const c = await r.add({ type: 'container', name: 'c', definition: {}, state: 'new' });
    await assert.rejects(r.addKeys(c.id, ['name:x']), InvalidInputError);
    await assert.rejects(r.removeKeys(c.id, ['name:c']), InvalidInputError);
    assert.deepEqual((await r.get(c.id)).keys, ['name:c']);
  });

  test('lists every bad field of a node in one InvalidInputError', async () => {
    const r = await fresh();
    await assertRefusedUnchanged(
      r,
      () => r.add({ id: 'not-a-uuid', type: 'vm' as never, name: '', definition: [] as never, state: '', metadata: { load: 1 }, keys: ['nocolon'] }),
      (err: unknown) => {
        assert.ok(err instanceof InvalidInputError);
        assert.deepEqual(err.problems.map((p) => p.field).sort(), ['definition', 'id', 'keys[0]', 'metadata.load', 'name', 'state', 'type']);
        return true;
      },
    );
  });

  test('returns the stored node when an add is repeated with the same id, type and name', async () => {
    const r = await fresh();
    const id = randomUUID();
    const first = await r.add({ id, type: 'container', name: 'c1', definition: { a: 1 }, state: 'new', keys: ['ip:10.0.0.9'] });
    const before = await r.rowCounts();
    const again = await r.add({ id, type: 'container', name: 'c1', definition: { a: 2 }, state: 'new', keys: ['ip:10.0.0.9'] });
    assert.deepEqual(again, first);
    // A retry that would take other keys now (another address) still finds the stored node.
    assert.deepEqual(await r.add({ id, type: 'container', name: 'c1', definition: { a: 3 }, state: 'new', keys: ['ip:10.0.0.10'] }), first);
    assert.deepEqual(await r.rowCounts(), before);
    await assertRefusedUnchanged(r, () => r.add({ id, type: 'container', name: 'c2', definition: {}, state: 'new' }), {
      name: 'KeyConflictError',
      ownerId: id,
    });
  });

  test('refuses a parent that does not exist', async () => {
    const r = await fresh();
    const missing = randomUUID();
    await assertRefusedUnchanged(r, () => r.add({ type: 'container', name: 'c', definition: {}, state: 'new', parentId: missing }), {
      name: 'NotFoundError',
      ref: missing,
    });
  });

  test('derives children from the parent and lists by type, state, tag and parent', async () => {
    const r = await fresh();
    const hv1 = await addHost(r, 'hv1');
    const hv2 = await addHost(r, 'hv2', undefined, {}, 'down');
    await r.update(hv1.id, undefined, { tags: { zone: 'a' } });
    await r.update(hv2.id, undefined, { tags: { zone: 'b' } });
    const c1 = await addContainer(r, 'c1', hv1.id);
    const c2 = await addContainer(r, 'c2', hv1.id);
    const c3 = await addContainer(r, 'c3', hv2.id);
    const loose = await r.add({ type: 'container', name: 'c0', definition: {}, state: 'new' });
    const env = await r.add({ type: 'environment', name: 'env', definition: {}, state: 'active', tags: { zone: 'a', owner: 'x' } });

    assert.deepEqual((await r.children(hv1.id)).map((n) => n.name), ['c1', 'c2']);
    assert.deepEqual((await r.children(hv2.id, 'container')).map((n) => n.id), [c3.id]);
    assert.deepEqual(await r.children(hv2.id, 'placeholder'), []);
    assert.deepEqual((await r.list({ parentId: hv1.id })).map((n) => n.id), [c1.id, c2.id]);
    assert.deepEqual((await r.list({ parentId: null })).map((n) => n.name), ['c0', 'env', 'hv1', 'hv2']);
    assert.deepEqual((await r.list({ type: 'hypervisor' })).map((n) => n.name), ['hv1', 'hv2']);
    assert.deepEqual((await r.list({ type: 'hypervisor', state: 'down' })).map((n) => n.name), ['hv2']);
    assert.deepEqual((await r.list({ tag: { key: 'zone' } })).map((n) => n.name), ['env', 'hv1', 'hv2']);
    assert.deepEqual((await r.list({ tag: { key: 'zone', value: 'a' } })).map((n) => n.name), ['env', 'hv1']);
    assert.deepEqual((await r.list({ tag: { key: 'zone', value: 'a' }, type: 'environment' })).map((n) => n.id), [env.id]);
    assert.deepEqual((await r.list({ type: 'container', limit: 2 })).map((n) => n.name), ['c0', 'c1']);
    assert.deepEqual((await r.list({ type: 'container', limit: 2, offset: 2 })).map((n) => n.name), ['c2', 'c3']);
    assert.deepEqual((await r.list({ type: 'container', offset: 3 })).map((n) => n.name), ['c3']);
    assert.equal(await r.count({ type: 'container' }), 4);
    assert.equal(await r.count({ parentId: hv1.id }), 2);
    assert.equal(await r.count({ tag: { key: 'owner', value: 'x' } }), 1);
    assert.equal(await r.count(), 7);
    assert.equal((await r.get(loose.id)).parentId, null);
  });

  test('merges metadata (null deletes), replaces tags, bumps the version and updated_at', async () => {
    const r = await fresh();
    const n = await r.add({ type: 'container', name: 'c', definition: { a: 1 }, state: 'new', metadata: { 'x.keep': 1, 'x.drop': 2 }, tags: { old: '1' } });
    await sleep(5);
    const u = await r.update(n.id, 1, { state: 'running', metadata: { 'x.drop': null, 'x.add': { deep: true } }, tags: { new: '2' }, definition: { a: 2 } });
    assert.equal(u.version, 2);
    assert.equal(u.state, 'running');
    assert.deepEqual(u.metadata, { 'x.keep': 1, 'x.add': { deep: true } });
    assert.deepEqual(u.tags, { new: '2' });
    assert.deepEqual(u.definition, { a: 2 });
    assert.equal(u.createdAt, n.createdAt);
    assert.ok(u.updatedAt > n.updatedAt, 'updated_at did not move');
    const v = await r.update(n.id, undefined, { metadata: { 'x.keep': 3 } });
    assert.equal(v.version, 3);
    assert.deepEqual(v.tags, { new: '2' }, 'tags changed although the patch had none');
    assert.deepEqual(v.metadata, { 'x.keep': 3, 'x.add': { deep: true } });
    assert.deepEqual(await r.list({ tag: { key: 'old' } }), []);
  });

  test('refuses metadata keys that are not namespaced, listing each', async () => {
    const r = await fresh();
    const n = await r.add({ type: 'container', name: 'c', definition: {}, state: 'new' });
    await assertRefusedUnchanged(r, () => r.update(n.id, undefined, { metadata: { load: 1, free: 2, 'ok.key': 3 } }), (err: unknown) => {
      assert.ok(err instanceof InvalidInputError);
      assert.deepEqual(err.problems.map((p) => p.field), ['metadata.load', 'metadata.free']);
      return true;
    });
    assert.deepEqual(await r.get(n.id), n);
  });

  test('refuses metadata over 64 KiB in total, leaving the node as it was', async () => {
    const r = await fresh();
    const n = await r.add({ type: 'container', name: 'c', definition: {}, state: 'new', metadata: { 'x.a': 'a'.repeat(40_000) } });
    await assertRefusedUnchanged(r, () => r.update(n.id, undefined, { metadata: { 'x.b': 'b'.repeat(30_000) } }), (err: unknown) => {
      assert.ok(err instanceof InvalidInputError);
      assert.match(err.message, /metadata is \d+ bytes serialized, over the limit of 65536/);
      return true;
    });
    assert.deepEqual(await r.get(n.id), n);
    await assert.rejects(r.add({ type: 'container', name: 'd', definition: {}, state: 'new', metadata: { 'x.a': 'é'.repeat(33_000) } }), InvalidInputError);
    // Deleting keys makes room again.
    const u = await r.update(n.id, undefined, { metadata: { 'x.a': null, 'x.b': 'b'.repeat(30_000) } });
    assert.deepEqual(Object.keys(u.metadata), ['x.b']);
  });

  test('lets one of two writers holding the same version win; the other gets VersionConflictError', async () => {
    const r = await fresh();
    const n = await r.add({ type: 'container', name: 'c', definition: {}, state: 'new' });
    const results = await Promise.allSettled([
      r.update(n.id, n.version, { state: 'running' }),
      r.update(n.id, n.version, { state: 'stopped' }),
    ]);
    const won = results.filter((x) => x.status === 'fulfilled');
    const lost = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.ok(lost[0]!.reason instanceof VersionConflictError);
    assert.equal(lost[0]!.reason.expected, 1);
    assert.equal(lost[0]!.reason.actual, 2);
    const stored = await r.get(n.id);
    assert.equal(stored.version, 2);
    assert.equal(stored.state, (won[0] as PromiseFulfilledResult<{ state: string }>).value.state);
    await assert.rejects(r.rename(n.id, 1, 'c2'), VersionConflictError);
    await assert.rejects(r.move(n.id, 1, null), VersionConflictError);
    await assert.rejects(r.updateDefinitionWithinCapacity(n.id, 1, {}), VersionConflictError);
    assert.equal((await r.get(n.id)).name, 'c');
  });

  test('renames by moving the name: key atomically and frees the old name', async () => {
    const r = await fresh();
    const a = await r.add({ type: 'container', name: 'a', definition: {}, state: 'new', keys: ['ip:10.0.0.1'] });
    const b = await r.add({ type: 'container', name: 'b', definition: {}, state: 'new' });
    const renamed = await r.rename(a.id, a.version, 'a2');
    assert.equal(renamed.name, 'a2');
    assert.equal(renamed.version, 2);
    assert.deepEqual(renamed.keys, ['ip:10.0.0.1', 'name:a2']);
    assert.equal(await r.findByName('a'), undefined);
    assert.equal(await r.findByKey('name:a'), undefined);
    assert.equal((await r.getByKey('name:a2')).id, a.id);
    await assertRefusedUnchanged(r, () => r.rename(a.id, undefined, 'b'), { name: 'KeyConflictError', key: 'name:b', ownerId: b.id, ownerName: 'b' });
    assert.deepEqual(await r.get(a.id), renamed);
    await assert.rejects(r.rename(a.id, undefined, ''), InvalidInputError);
    await r.add({ type: 'container', name: 'a', definition: {}, state: 'new' });
  });

  test('moves a node under another parent and refuses cycles in the parent chain', async () => {
    const r = await fresh();
    const root = await r.add({ type: 'environment', name: 'root', definition: {}, state: 'active' });
    const mid = await r.add({ type: 'environment', name: 'mid', definition: {}, state: 'active', parentId: root.id });
    const leaf = await r.add({ type: 'environment', name: 'leaf', definition: {}, state: 'active', parentId: mid.id });
    const other = await r.add({ type: 'environment', name: 'other', definition: {}, state: 'active' });

    const moved = await r.move(leaf.id, leaf.version, other.id);
    assert.equal(moved.parentId, other.id);
    assert.equal(moved.version, 2);
    assert.deepEqual((await r.children(mid.id)).map((n) => n.id), []);
    assert.deepEqual((await r.children(other.id)).map((n) => n.id), [leaf.id]);

    for (const target of [root.id, mid.id]) {
      const before = await r.get(root.id);
      await assertRefusedUnchanged(r, () => r.move(root.id, undefined, target), (err: unknown) => {
        assert.ok(err instanceof InvalidInputError);
        assert.equal(err.problems[0]!.field, 'parentId');
        assert.match(err.problems[0]!.problem, /its own ancestor/);
        return true;
      });
      assert.deepEqual(await r.get(root.id), before);
    }
    const missing = randomUUID();
    await assertRefusedUnchanged(r, () => r.move(leaf.id, undefined, missing), { name: 'NotFoundError', ref: missing });
    const detached = await r.move(leaf.id, undefined, null);
    assert.equal(detached.parentId, null);
  });

  test('adds and removes extra keys; a key owned elsewhere is a conflict naming its owner', async () => {
    const r = await fresh();
    const a = await r.add({ type: 'container', name: 'a', definition: {}, state: 'new', keys: ['volume:v1'] });
    const b = await r.add({ type: 'container', name: 'b', definition: {}, state: 'new' });
    const withKeys = await r.addKeys(b.id, ['volume:v2', 'volume:v3']);
    assert.deepEqual(withKeys.keys, ['name:b', 'volume:v2', 'volume:v3']);
    assert.equal(withKeys.version, b.version, 'keys have their own guard and leave the version alone');
    assert.deepEqual((await r.addKeys(b.id, ['volume:v2'])).keys, withKeys.keys, 'adding an owned key again is a no-op');
    await assertRefusedUnchanged(r, () => r.addKeys(b.id, ['volume:v4', 'volume:v1']), { name: 'KeyConflictError', key: 'volume:v1', ownerId: a.id });
    assert.equal(await r.findByKey('volume:v4'), undefined);
    const fewer = await r.removeKeys(b.id, ['volume:v2', 'volume:v1']);
    assert.deepEqual(fewer.keys, ['name:b', 'volume:v3']);
    assert.equal((await r.getByKey('volume:v1')).id, a.id, 'removeKeys touched a key of another node');
    await assert.rejects(r.addKeys(randomUUID(), ['volume:x']), NotFoundError);
  });

  test('removes a node with its keys and tags; refuses while it has children unless cascading', async () => {
    const r = await fresh();
    const hv = await addHost(r, 'hv');
    const c = await addContainer(r, 'c', hv.id);
    await r.update(c.id, undefined, { tags: { t: 'v' } });
    const grandchild = await r.add({ type: 'environment', name: 'g', definition: {}, state: 'active', parentId: c.id, keys: ['volume:g'] });
    await r.claim({ hostId: hv.id, commandId: 'cmd-x', containerName: 'y', resources: { cpus: 1, memoryMiB: 1, diskGiB: 1 }, ttlSeconds: 60 });

    await assertRefusedUnchanged(r, () => r.remove(hv.id), (err: unknown) => {
      assert.ok(err instanceof HasChildrenError);
      assert.equal(err.childCount, 2);
      return true;
    });
    const lone = await r.add({ type: 'container', name: 'lone', definition: {}, state: 'new', keys: ['ip:10.0.0.7'], tags: { a: 'b' } });
    const before = await r.rowCounts();
    await r.remove(lone.id);
    assert.deepEqual(await r.rowCounts(), { ...before, nodes: before.nodes - 1, node_keys: before.node_keys - 2, node_tags: before.node_tags - 1 });
    assert.equal(await r.findByKey('ip:10.0.0.7'), undefined);

    await r.remove(hv.id, { cascade: true });
    for (const id of [hv.id, c.id, grandchild.id]) assert.equal(await r.find(id), undefined);
    assert.equal(await r.findByKey('volume:g'), undefined);
    assert.equal(await r.findByKey('claim:cmd-x'), undefined);
    const counts = await r.rowCounts();
    assert.deepEqual({ nodes: counts.nodes, keys: counts.node_keys, tags: counts.node_tags }, { nodes: 0, keys: 0, tags: 0 });
    await assert.rejects(r.remove(hv.id), NotFoundError);
    // The names are free again.
    await addHost(r, 'hv');
  });

  test('claims capacity with a placeholder under the host, idempotent by command id', async () => {
    const r = await fresh();
    const hv = await addHost(r, 'hv', { cpus: 4, memoryMiB: 4096, diskGiB: 100 });
    const cid = randomUUID();
    const p = await r.claim({ hostId: hv.id, commandId: 'cmd-1', containerName: 'web1', containerId: cid, resources: { cpus: 2, memoryMiB: 1024, diskGiB: 10 }, ttlSeconds: 60, groups: ['env:e1'] });
    assert.equal(p.type, 'placeholder');
    assert.equal(p.state, 'held');
    assert.equal(p.parentId, hv.id);
    assert.equal(p.name, 'placeholder-cmd-1');
    assert.deepEqual(p.keys, ['claim:cmd-1', 'name:placeholder-cmd-1']);
    const def = p.definition as unknown as PlaceholderDefinition;
    assert.deepEqual(def.resources, { cpus: 2, memoryMiB: 1024, diskGiB: 10 });
    assert.equal(def.commandId, 'cmd-1');
    assert.equal(def.containerId, cid);
    assert.equal(def.containerName, 'web1');
    assert.deepEqual(def.groups, ['env:e1']);
    const ttl = Date.parse(def.expiresAt) - Date.parse(p.createdAt);
    assert.ok(ttl >= 59_000 && ttl <= 61_000, `expiry ${ttl} ms after creation`);

    const before = await r.rowCounts();
    assert.deepEqual(await r.claim({ hostId: hv.id, commandId: 'cmd-1', containerName: 'web1', resources: { cpus: 2, memoryMiB: 1024, diskGiB: 10 }, ttlSeconds: 60 }), p);
    assert.deepEqual(await r.rowCounts(), before);
    assert.deepEqual(await r.usage(hv.id), { cpus: 2, memoryMiB: 1024, diskGiB: 10 });
  });

  test('refuses a claim beyond the allowance, naming the short resource', async () => {
    const r = await fresh();
    const hv = await addHost(r, 'hv', { cpus: 4, memoryMiB: 4096, diskGiB: 100 }, { overcommit: { cpu: 2, memory: 1, disk: 1 } });
    await addContainer(r, 'c1', hv.id, { cpus: 6, memoryMiB: 3072, diskGiB: 10 });
    await assertRefusedUnchanged(
      r,
      () => r.claim({ hostId: hv.id, commandId: 'big-mem', containerName: 'x', resources: { cpus: 1, memoryMiB: 2048, diskGiB: 1 }, ttlSeconds: 60 }),
      (err: unknown) => {
        assert.ok(err instanceof NoCapacityError);
        assert.deepEqual(err.reasons, { 'full on memory': 1 });
        assert.equal(err.hostId, hv.id);
        assert.equal(err.container, 'x');
        return true;
      },
    );
    await assert.rejects(r.claim({ hostId: hv.id, commandId: 'big-cpu', containerName: 'x', resources: { cpus: 3, memoryMiB: 1, diskGiB: 1 }, ttlSeconds: 60 }), {
      reasons: { 'full on cpu': 1 },
    });
    // Overcommit 2 on cpu: 6 used + 2 = 8 = 4 × 2 fits exactly.
    await r.claim({ hostId: hv.id, commandId: 'fits', containerName: 'x', resources: { cpus: 2, memoryMiB: 1024, diskGiB: 90 }, ttlSeconds: 60 });
    await assert.rejects(r.claim({ hostId: hv.id, commandId: 'disk', containerName: 'x', resources: { cpus: 0, memoryMiB: 0, diskGiB: 1 }, ttlSeconds: 60 }), {
      reasons: { 'full on disk': 1 },
    });
    assert.deepEqual(await r.usage(hv.id), { cpus: 8, memoryMiB: 4096, diskGiB: 100 });
  });

  test('refuses to claim on a host that is not up, or on something that is not a host', async () => {
    const r = await fresh();
    const down = await addHost(r, 'down', undefined, {}, 'down');
    const request = { commandId: 'c', containerName: 'x', resources: { cpus: 1, memoryMiB: 1, diskGiB: 1 }, ttlSeconds: 60 };
    await assertRefusedUnchanged(r, () => r.claim({ ...request, hostId: down.id }), { name: 'NoCapacityError', reasons: { down: 1 } });
    const env = await r.add({ type: 'environment', name: 'e', definition: {}, state: 'active' });
    await assertRefusedUnchanged(r, () => r.claim({ ...request, hostId: env.id }), InvalidInputError);
    await assertRefusedUnchanged(r, () => r.claim({ ...request, hostId: randomUUID() }), NotFoundError);
    await assertRefusedUnchanged(r, () => r.claim({ ...request, hostId: down.id, ttlSeconds: 0 }), InvalidInputError);
  });

  test('an expired placeholder holds its capacity until it is released or collected, and is listed as expired', async () => {
    const r = await fresh();
    const hv = await addHost(r, 'hv', { cpus: 2, memoryMiB: 2048, diskGiB: 20 });
    await r.claim({ hostId: hv.id, commandId: 'short', containerName: 'x', resources: { cpus: 2, memoryMiB: 2048, diskGiB: 20 }, ttlSeconds: 0.05 });
    await sleep(120);
    // Its command may still run (the collector extends it then): the room stays taken.
    assert.deepEqual(await r.usage(hv.id), { cpus: 2, memoryMiB: 2048, diskGiB: 20 });
    await assert.rejects(r.claim({ hostId: hv.id, commandId: 'blocked', containerName: 'y', resources: { cpus: 1, memoryMiB: 1, diskGiB: 1 }, ttlSeconds: 60 }), NoCapacityError);
    assert.deepEqual((await r.expiredPlaceholders()).map((p) => p.name), ['placeholder-short']);
    assert.equal(await r.release('short'), true);
    const live = await r.claim({ hostId: hv.id, commandId: 'long', containerName: 'y', resources: { cpus: 2, memoryMiB: 2048, diskGiB: 20 }, ttlSeconds: 60 });
    assert.deepEqual(await r.expiredPlaceholders(), []);
    assert.deepEqual((await r.expiredPlaceholders(new Date(Date.now() + 3_600_000))).map((p) => p.id), [live.id]);
  });

  test('extends and releases claims by command id', async () => {
    const r = await fresh();
    const hv = await addHost(r, 'hv');
    const p = await r.claim({ hostId: hv.id, commandId: 'c1', containerName: 'x', resources: { cpus: 1, memoryMiB: 1, diskGiB: 1 }, ttlSeconds: 30 });
    assert.equal(await r.extendClaim('c1', 600), true);
    const extended = await r.getByKey('claim:c1');
    const expiry = Date.parse((extended.definition as unknown as PlaceholderDefinition).expiresAt);
    assert.ok(expiry > Date.now() + 590_000, 'the expiry did not move forward');
    assert.equal(await r.extendClaim('c1', 1), true);
    assert.equal(Date.parse(((await r.get(p.id)).definition as unknown as PlaceholderDefinition).expiresAt), expiry, 'extending shortened the claim');
    assert.equal(await r.extendClaim('nope', 60), false);
    assert.equal(await r.release('c1'), true);
    assert.equal(await r.find(p.id), undefined);
    assert.equal(await r.findByKey('claim:c1'), undefined);
    assert.equal(await r.release('c1'), false);
    assert.deepEqual(await r.usage(hv.id), { cpus: 0, memoryMiB: 0, diskGiB: 0 });
  });

  test('commits a claim: the container moves under the host and the placeholder goes, once', async () => {
    const r = await fresh();
    const source = await addHost(r, 'source');
    const target = await addHost(r, 'target');
    const c = await addContainer(r, 'c', source.id, { cpus: 2, memoryMiB: 2048, diskGiB: 20 });
    await r.claim({ hostId: target.id, commandId: 'mig', containerName: 'c', containerId: c.id, resources: { cpus: 2, memoryMiB: 2048, diskGiB: 20 }, ttlSeconds: 60 });
    assert.deepEqual(await r.usage(target.id), { cpus: 2, memoryMiB: 2048, diskGiB: 20 });
    const committed = await r.commitClaim('mig', c.id);
    assert.deepEqual(committed, await r.get(c.id));
    assert.equal(committed.parentId, target.id);
    assert.equal(committed.version, c.version + 1);
    assert.equal(await r.findByKey('claim:mig'), undefined);
    assert.deepEqual((await r.children(target.id)).map((n) => n.id), [c.id]);
    assert.deepEqual(await r.usage(source.id), { cpus: 0, memoryMiB: 0, diskGiB: 0 });
    assert.deepEqual(await r.usage(target.id), { cpus: 2, memoryMiB: 2048, diskGiB: 20 });
    const before = await r.rowCounts();
    assert.deepEqual(await r.commitClaim('mig', c.id), committed);
    assert.deepEqual(await r.rowCounts(), before);
    await assert.rejects(r.commitClaim('other', randomUUID()), NotFoundError);
  });

  test('changes a definition within the host capacity and refuses growth beyond it', async () => {
    const r = await fresh();
    const hv = await addHost(r, 'hv', { cpus: 4, memoryMiB: 4096, diskGiB: 100 });
    const c = await addContainer(r, 'c', hv.id, { cpus: 2, memoryMiB: 1024, diskGiB: 10 });
    await addContainer(r, 'd', hv.id, { cpus: 1, memoryMiB: 1024, diskGiB: 10 });
    const grown = await r.updateDefinitionWithinCapacity(c.id, c.version, containerDefinition({ cpus: 3, memoryMiB: 3072, diskGiB: 90 }));
    assert.equal(grown.version, 2);
    assert.deepEqual(await r.usage(hv.id), { cpus: 4, memoryMiB: 4096, diskGiB: 100 });
    await assertRefusedUnchanged(
      r,
      () => r.updateDefinitionWithinCapacity(c.id, undefined, containerDefinition({ cpus: 3, memoryMiB: 3072, diskGiB: 91 })),
      { name: 'NoCapacityError', reasons: { 'full on disk': 1 }, hostId: hv.id },
    );
    assert.deepEqual(await r.get(c.id), grown);
    const loose = await r.add({ type: 'container', name: 'loose', definition: containerDefinition(), state: 'new' });
    const big = await r.updateDefinitionWithinCapacity(loose.id, undefined, containerDefinition({ cpus: 64, memoryMiB: 1, diskGiB: 1 }));
    assert.equal(big.definition.cpus, 64, 'a container without a host has no capacity to check');
  });

  test('snapshots every host with allowance, usage, load, labels and groups', async () => {
    const r = await fresh();
    const hv1 = await addHost(r, 'hv1', { cpus: 4, memoryMiB: 4096, diskGiB: 100 }, { overcommit: { cpu: 4, memory: 1.5, disk: 1 }, labels: { zone: 'a' } });
    const hv2 = await addHost(r, 'hv2', { cpus: 8, memoryMiB: 8192, diskGiB: 200 }, {}, 'down');
    await r.update(hv1.id, undefined, { metadata: { [META.load]: 0.75 } });
    await addContainer(r, 'c1', hv1.id, { cpus: 1, memoryMiB: 512, diskGiB: 5 }, { [META.groups]: ['env:shop', 'group:web'] });
    await addContainer(r, 'c2', hv1.id, { cpus: 2, memoryMiB: 512, diskGiB: 5 }, { [META.groups]: ['env:shop'] });
    await r.claim({ hostId: hv1.id, commandId: 'k', containerName: 'c3', resources: { cpus: 1, memoryMiB: 1024, diskGiB: 10 }, ttlSeconds: 60, groups: ['env:shop'] });
    await r.claim({ hostId: hv1.id, commandId: 'gone', containerName: 'c4', resources: { cpus: 1, memoryMiB: 1, diskGiB: 1 }, ttlSeconds: 0.02, groups: ['env:old'] });
    await sleep(60);

    const snapshot = await r.hostSnapshot();
    assert.deepEqual(snapshot, [
      {
        id: hv1.id,
        name: 'hv1',
        state: 'up',
        driver: 'sim',
        labels: { zone: 'a' },
        allowance: { cpus: 16, memoryMiB: 6144, diskGiB: 100 },
        // The expired claim of `gone` still holds its room until it is released or collected.
        used: { cpus: 5, memoryMiB: 2049, diskGiB: 21 },
        load: 0.75,
        groups: { 'env:old': 1, 'env:shop': 3, 'group:web': 1 },
      },
      {
        id: hv2.id,
        name: 'hv2',
        state: 'down',
        driver: 'sim',
        labels: {},
        allowance: { cpus: 8, memoryMiB: 8192, diskGiB: 200 },
        used: { cpus: 0, memoryMiB: 0, diskGiB: 0 },
        load: 0,
        groups: {},
      },
    ]);
    assert.deepEqual(await r.usage(hv1.id), snapshot[0]!.used);
  });

  test('snapshots many hosts in a fixed number of queries, not one per host', async () => {
    const r = await fresh();
    for (let h = 0; h < 30; h++) {
      const host = await addHost(r, `hv-${String(h).padStart(2, '0')}`, { cpus: 8, memoryMiB: 8192, diskGiB: 100 });
      await addContainer(r, `c-${h}`, host.id, { cpus: 1 + (h % 3), memoryMiB: 256, diskGiB: 1 }, { [META.groups]: [`env:${h % 2}`] });
    }
    let queries = 0;
    const logger = r.dataSource.logger;
    const logQuery = logger.logQuery;
    logger.logQuery = (...args) => {
      queries++;
      return logQuery.apply(logger, args);
    };
    try {
      const snapshot = await r.hostSnapshot();
      assert.equal(snapshot.length, 30);
      assert.deepEqual(snapshot[4]!.used, { cpus: 2, memoryMiB: 256, diskGiB: 1 });
      assert.deepEqual(snapshot[5]!.groups, { 'env:1': 1 });
    } finally {
      logger.logQuery = logQuery;
    }
    assert.ok(queries <= 3, `hostSnapshot ran ${queries} queries for 30 hosts`);
  });

  test('snapshots only the hosts asked for, with the same figures as the full snapshot', async () => {
    const r = await fresh();
    const hosts = [];
    for (let h = 0; h < 4; h++) {
      const host = await addHost(r, `hv-${h}`, { cpus: 8, memoryMiB: 8192, diskGiB: 100 });
      await addContainer(r, `c-${h}`, host.id, { cpus: 1 + h, memoryMiB: 256, diskGiB: 1 }, { [META.groups]: [`env:${h % 2}`] });
      hosts.push(host);
    }
    await r.claim({ hostId: hosts[2]!.id, commandId: 'k', containerName: 'x', resources: { cpus: 1, memoryMiB: 1, diskGiB: 1 }, ttlSeconds: 60, groups: ['env:0'] });
    const all = await r.hostSnapshot();
    const some = await r.hostSnapshot([hosts[2]!.id, hosts[0]!.id, randomUUID()]);
    assert.deepEqual(some, [all[0], all[2]]);
    assert.deepEqual(some[1]!.groups, { 'env:0': 2 });
    assert.deepEqual(await r.hostSnapshot([]), []);
  });

  test('lists only the nodes of `ids`, and none for an empty list', async () => {
    const r = await fresh();
    const a = await r.add({ type: 'container', name: 'a', definition: {}, state: 'new' });
    await r.add({ type: 'container', name: 'b', definition: {}, state: 'new' });
    const c = await r.add({ type: 'environment', name: 'c', definition: {}, state: 'active' });
    assert.deepEqual((await r.list({ ids: [c.id, a.id, randomUUID()] })).map((n) => n.name), ['a', 'c']);
    assert.deepEqual((await r.list({ ids: [c.id, a.id], type: 'container' })).map((n) => n.name), ['a']);
    assert.deepEqual(await r.list({ ids: [] }), []);
  });

  test('pages by key: `after` a name, in name order, filters kept, no node twice or missed', async () => {
    const r = await fresh();
    const hv = await addHost(r, 'hv');
    for (let i = 0; i < 25; i++) await r.add({ type: 'container', name: `c${String(i).padStart(2, '0')}`, definition: {}, state: i % 2 ? 'running' : 'stopped', parentId: hv.id });
    await r.add({ type: 'environment', name: 'c05x', definition: {}, state: 'active' });
    const pages: string[][] = [];
    for (let after: string | undefined; ; ) {
      const page = await r.list({ type: 'container', limit: 10, ...(after !== undefined ? { after } : {}) });
      if (!page.length) break;
      pages.push(page.map((n) => n.name));
      after = page[page.length - 1]!.name;
    }
    assert.deepEqual(pages.map((p) => p.length), [10, 10, 5]);
    assert.deepEqual(pages.flat(), Array.from({ length: 25 }, (_, i) => `c${String(i).padStart(2, '0')}`));
    assert.deepEqual((await r.list({ type: 'container', state: 'running', after: 'c10', limit: 3 })).map((n) => n.name), ['c11', 'c13', 'c15']);
    assert.deepEqual((await r.list({ parentId: hv.id, after: 'c23' })).map((n) => n.name), ['c24']);
    assert.deepEqual(await r.list({ type: 'container', after: 'c24' }), []);
  });

  test('pages stay whole under concurrent inserts and removals: every node there throughout is listed once', async () => {
    const r = await fresh();
    const name = (i: number) => `n${String(i).padStart(4, '0')}`;
    const stable = new Set<string>();
    for (let i = 0; i < 120; i += 2) {
      await r.add({ type: 'container', name: name(i), definition: {}, state: 'new' });
      stable.add(name(i));
    }
    const doomed = [];
    for (let i = 1; i < 120; i += 10) doomed.push(await r.add({ type: 'container', name: name(i), definition: {}, state: 'new' }));
    let writing = true;
    const writer = (async () => {
      // Inserts before and after wherever the reader is, and removes others, while it pages.
      for (let i = 3; writing && i < 120; i += 4) {
        if (i % 10 !== 1) await r.add({ type: 'container', name: name(i), definition: {}, state: 'new' });
        const gone = doomed.shift();
        if (gone) await r.remove(gone.id);
      }
    })();
    const seen: string[] = [];
    for (let after: string | undefined; ; ) {
      const page = await r.list({ type: 'container', limit: 7, ...(after !== undefined ? { after } : {}) });
      if (!page.length) break;
      seen.push(...page.map((n) => n.name));
      after = page[page.length - 1]!.name;
      await sleep(1);
    }
    writing = false;
    await writer;
    assert.equal(new Set(seen).size, seen.length, 'a node was listed twice');
    assert.deepEqual([...seen].sort(), seen, 'pages out of order');
    assert.deepEqual([...stable].filter((n) => !seen.includes(n)), [], 'nodes there throughout were missed');
  });

  test('keeps an audit log per node, newest first', async () => {
    const r = await fresh();
    const n = await r.add({ type: 'container', name: 'c', definition: {}, state: 'new' });
    await r.recordEvent({ nodeId: n.id, what: 'created', why: 'asked', by: 'alice', commandId: 'cmd-1', data: { a: 1 } });
    await r.recordEvent({ nodeId: n.id, what: 'started', why: 'asked', by: 'bob', commandId: null, data: {}, at: '2030-01-01T00:00:00Z' });
    await r.recordEvent({ nodeId: randomUUID(), what: 'other', why: '', by: '', commandId: null, data: {} });
    const events = await r.events(n.id);
    assert.deepEqual(events.map((e) => e.what), ['started', 'created']);
    assert.equal(events[0]!.at, '2030-01-01T00:00:00.000Z');
    assert.deepEqual({ by: events[1]!.by, commandId: events[1]!.commandId, data: events[1]!.data, why: events[1]!.why }, { by: 'alice', commandId: 'cmd-1', data: { a: 1 }, why: 'asked' });
    assert.ok(events[0]!.id > events[1]!.id);
    assert.equal((await r.events(n.id, 1)).length, 1);
    await r.remove(n.id);
    assert.equal((await r.events(n.id)).length, 2, 'the audit log outlives the node');
    await assert.rejects(r.recordEvent({ nodeId: n.id, what: '', why: '', by: '', commandId: null, data: {} }), InvalidInputError);
  });

  test('gives each contested key to exactly one of many concurrent adds', async () => {
    const r = await fresh();
    const attempts = Array.from({ length: 24 }, (_, i) =>
      r.add({ type: 'container', name: `n${i}`, definition: {}, state: 'new', keys: [`ip:10.0.0.${i % 4}`, `own:${i}`] }),
    );
    const results = await Promise.allSettled(attempts);
    const winners = results.filter((x) => x.status === 'fulfilled');
    assert.equal(winners.length, 4);
    for (const x of results) if (x.status === 'rejected') assert.ok(x.reason instanceof KeyConflictError);
    const counts = await r.rowCounts();
    assert.equal(counts.nodes, 4);
    assert.equal(counts.node_keys, 12);
    assert.deepEqual(await r.listKeys('ip:'), ['ip:10.0.0.0', 'ip:10.0.0.1', 'ip:10.0.0.2', 'ip:10.0.0.3']);
  });

  test('lists keys by prefix, sorted', async () => {
    const r = await fresh();
    await r.add({ type: 'container', name: 'a', definition: {}, state: 'new', keys: ['ip:10.0.0.2', 'mac:02:00:00:00:00:02', 'ip_x:1'] });
    await r.add({ type: 'container', name: 'b', definition: {}, state: 'new', keys: ['ip:10.0.0.1'] });
    assert.deepEqual(await r.listKeys('ip:'), ['ip:10.0.0.1', 'ip:10.0.0.2']);
    assert.deepEqual(await r.listKeys('name:'), ['name:a', 'name:b']);
  });

  test('uses a hypervisor definition as given', async () => {
    const r = await fresh();
    const hv = await r.add({ type: 'hypervisor', name: 'h', definition: hypervisorDefinition(), state: 'up' });
    assert.deepEqual(hv.definition, hypervisorDefinition());
  });
});
