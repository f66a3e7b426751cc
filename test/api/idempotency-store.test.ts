// Where Idempotency-Key answers are kept, on SQLite and MariaDB alike: a key is bound per token to
// the first request it came with; the same request gets the stored answer, another is told what
// the key was first used for; a released key is free again, and a key past its day is forgotten.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdempotencyStore, KEY_TTL_MS } from '../../src/api/idempotency';
import { describeOnDatabases } from '../support/databases';

describeOnDatabases('idempotency keys', (db) => {
  test('binds a key to its first request and answers it again', async () => {
    const store = await IdempotencyStore.open(await db().freshUrl());
    try {
      assert.deepEqual(await store.claim('token-a', 'k1', 'f1', 'POST /v1/containers'), { kind: 'new' });
      assert.deepEqual(await store.claim('token-a', 'k1', 'f1', 'POST /v1/containers'), { kind: 'in-progress', request: 'POST /v1/containers' });
      const answer = { status: 202, headers: { location: '/v1/commands/x' }, body: { commandId: 'c1' } };
      await store.answered('token-a', 'k1', answer);
      assert.deepEqual(await store.claim('token-a', 'k1', 'f1', 'POST /v1/containers'), { kind: 'replay', answer });
      assert.deepEqual(await store.claim('token-a', 'k1', 'f2', 'POST /v1/containers/web1/stop'), { kind: 'mismatch', request: 'POST /v1/containers' });
      assert.deepEqual(await store.claim('token-b', 'k1', 'f2', 'POST /v1/containers/web1/stop'), { kind: 'new' }, "another token's key is its own");
    } finally {
      await store.close();
    }
  });

  test('a released key is free again; a key past its time is forgotten', async () => {
    const store = await IdempotencyStore.open(await db().freshUrl());
    try {
      await store.claim('t', 'k2', 'f1', 'POST /a');
      await store.release('t', 'k2');
      assert.deepEqual(await store.claim('t', 'k2', 'f2', 'POST /b'), { kind: 'new' });
      await store.answered('t', 'k2', { status: 202, headers: {}, body: {} });
      await store.release('t', 'k2');
      assert.equal((await store.claim('t', 'k2', 'f2', 'POST /b')).kind, 'replay', 'an answered key is not released');
      const later = new Date(Date.now() + KEY_TTL_MS + 60_000);
      assert.deepEqual(await store.claim('t', 'k2', 'f3', 'POST /c', later), { kind: 'new' });
    } finally {
      await store.close();
    }
  });
});
