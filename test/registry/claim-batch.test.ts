// Claims made at the same moment share a transaction (group commit), and each keeps its own
// outcome: a claim that does not fit, names a missing host, repeats a command or collides with a
// taken key fails alone, the others commit. On SQLite and on MariaDB.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { KeyConflictError, NoCapacityError, NotFoundError } from '../../src/domain/errors';
import type { NodeRecord } from '../../src/domain/types';
import type { SqlRegistry } from '../../src/registry';
import type { ClaimRequest } from '../../src/registry/types';
import { describeOnDatabases } from '../support/databases';
import { addHost } from './fixtures';

const cpus = (n: number) => ({ cpus: n, memoryMiB: n * 1024, diskGiB: n * 10 });
const claimOn = (hostId: string, commandId: string, n: number): ClaimRequest => ({ hostId, commandId, containerName: `c-${commandId}`, resources: cpus(n), ttlSeconds: 60 });

/** Sends `claims` at the same moment: they queue into one transaction. Returns each one's settled outcome and the transactions used. */
async function together(r: SqlRegistry, claims: readonly ClaimRequest[]) {
  const before = r.claimBatches;
  const settled = await Promise.allSettled(claims.map((c) => r.claim(c)));
  const after = r.claimBatches;
  return { settled, batches: after.batches - before.batches, fallbacks: after.fallbacks - before.fallbacks };
}

function value(s: PromiseSettledResult<NodeRecord>): NodeRecord {
  if (s.status === 'rejected') throw s.reason;
  return s.value;
}

function reason(s: PromiseSettledResult<NodeRecord>): unknown {
  assert.equal(s.status, 'rejected', 'the claim was expected to fail');
  return (s as PromiseRejectedResult).reason;
}

async function placeholdersOf(r: SqlRegistry, commandId: string): Promise<NodeRecord[]> {
  return (await r.list({ type: 'placeholder' })).filter((p) => (p.definition as { commandId?: string }).commandId === commandId);
}

describeOnDatabases('claims sharing a transaction', (db) => {
  test('a batch of fitting and non-fitting claims: each checked with the earlier ones counted, the misfit refused alone', async () => {
    const r = await db().registry();
    const hv = await addHost(r, 'hv-1', cpus(4));
    const { settled, batches } = await together(r, [
      claimOn(hv.id, 'a', 2),
      claimOn(hv.id, 'b', 3),
      claimOn(hv.id, 'c', 1),
      claimOn(hv.id, 'd', 1),
      claimOn(hv.id, 'e', 1),
    ]);
    assert.equal(batches, 1, 'the five claims did not share one transaction');
    for (const i of [0, 2, 3]) assert.equal(value(settled[i]!).parentId, hv.id);
    for (const i of [1, 4]) {
      const err = reason(settled[i]!);
      assert.ok(err instanceof NoCapacityError, String(err));
      assert.equal(err.hostId, hv.id);
      assert.deepEqual(err.reasons, { 'full on memory': 1 });
    }
    assert.deepEqual(await r.usage(hv.id), cpus(4));
    assert.deepEqual(await placeholdersOf(r, 'b'), []);
    assert.equal(await r.findByKey('claim:e'), undefined);
  });

  test('a retried command in a batch gets its placeholder back, unchanged, beside new claims', async () => {
    const r = await db().registry();
    const hv = await addHost(r, 'hv-1', cpus(4));
    const first = await r.claim(claimOn(hv.id, 'again', 2));
    // The retry names another host: the claim made is what counts.
    const other = await addHost(r, 'hv-2', cpus(4));
    const { settled, batches } = await together(r, [claimOn(other.id, 'again', 2), claimOn(hv.id, 'new', 2)]);
    assert.equal(batches, 1);
    assert.deepEqual(value(settled[0]!), first);
    assert.equal(value(settled[1]!).parentId, hv.id);
    assert.deepEqual(await r.usage(hv.id), cpus(4));
    assert.deepEqual(await r.usage(other.id), cpus(0));
  });

  test('the same command twice at once: one placeholder, both calls get it', async () => {
    const r = await db().registry();
    const hv1 = await addHost(r, 'hv-1', cpus(4));
    const hv2 = await addHost(r, 'hv-2', cpus(4));
    const { settled, batches } = await together(r, [claimOn(hv1.id, 'twice', 1), claimOn(hv2.id, 'twice', 1), claimOn(hv2.id, 'other', 1)]);
    // The second claim of `twice` waits for the next transaction, where the first one's placeholder is found.
    assert.equal(batches, 2);
    assert.deepEqual(value(settled[1]!), value(settled[0]!));
    assert.equal(value(settled[0]!).parentId, hv1.id);
    assert.equal(value(settled[2]!).parentId, hv2.id);
    assert.equal((await placeholdersOf(r, 'twice')).length, 1);
    assert.deepEqual(await r.usage(hv2.id), cpus(1));
  });

  test('a key taken by another node fails that claim alone: the batch runs again one claim per transaction', async () => {
    const r = await db().registry();
    const hv = await addHost(r, 'hv-1', cpus(4));
    // Owns the name the claim of `clash` would give its placeholder.
    const squatter = await r.add({ type: 'environment', name: 'placeholder-clash', definition: {}, state: 'active' });
    const { settled, batches, fallbacks } = await together(r, [claimOn(hv.id, 'fine-1', 1), claimOn(hv.id, 'clash', 1), claimOn(hv.id, 'fine-2', 1)]);
    assert.equal(batches, 1);
    assert.equal(fallbacks, 1);
    const err = reason(settled[1]!);
    assert.ok(err instanceof KeyConflictError, String(err));
    assert.equal(err.ownerId, squatter.id);
    assert.equal(value(settled[0]!).parentId, hv.id);
    assert.equal(value(settled[2]!).parentId, hv.id);
    assert.deepEqual(await r.usage(hv.id), cpus(2));
    assert.equal(await r.findByKey('claim:clash'), undefined);
  });

  test('a missing host, a host that is down and something that is not a host each refuse their claim alone', async () => {
    const r = await db().registry();
    const hv = await addHost(r, 'hv-1', cpus(4));
    const down = await addHost(r, 'hv-down', cpus(4), {}, 'down');
    const env = await r.add({ type: 'environment', name: 'env-1', definition: {}, state: 'active' });
    const missing = randomUUID();
    const { settled } = await together(r, [
      claimOn(missing, 'm', 1),
      claimOn(down.id, 'd', 1),
      claimOn(env.id, 'e', 1),
      claimOn(hv.id, 'ok', 1),
    ]);
    const gone = reason(settled[0]!);
    assert.ok(gone instanceof NotFoundError && (gone as NotFoundError & { ref?: string }).ref === missing, String(gone));
    const isDown = reason(settled[1]!);
    assert.ok(isDown instanceof NoCapacityError && isDown.reasons.down === 1, String(isDown));
    assert.equal((reason(settled[2]!) as Error).name, 'InvalidInputError');
    assert.equal(value(settled[3]!).parentId, hv.id);
    assert.deepEqual(await r.usage(down.id), cpus(0));
  });

  test('a batch larger than one transaction takes is split, and every claim is counted once', async () => {
    const r = await db().registry();
    const hv = await addHost(r, 'hv-big', cpus(1000));
    const claims = Array.from({ length: 100 }, (_, i) => claimOn(hv.id, `many-${i}`, 1));
    const before = r.claimBatches;
    const records = await Promise.all(claims.map((c) => r.claim(c)));
    const after = r.claimBatches;
    assert.equal(new Set(records.map((p) => p.id)).size, 100);
    assert.equal(after.claims - before.claims, 100);
    assert.ok(after.batches - before.batches >= 4 && after.batches - before.batches < 100, `${after.batches - before.batches} transactions for 100 claims`);
    assert.deepEqual(await r.usage(hv.id), cpus(100));
  });
});
