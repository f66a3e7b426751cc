// The API token store on SQLite and MariaDB: only a hash and a short id are stored, revocation
// takes effect at once, and its own migrations live beside the registry's without touching them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DataSource } from 'typeorm';
import { ensureAdminToken, TokenAuthenticator, TokenStore } from '../../src/auth';
import { InvalidInputError, NotFoundError, UnauthenticatedError } from '../../src/domain/errors';
import { openRegistry } from '../../src/registry';
import { describeOnDatabases } from '../support/databases';

/** Every row of the token table and the names of the migration tables, read without the store. */
async function rawRows(url: string): Promise<{ rows: Record<string, unknown>[]; migrations: string[]; registryMigrations: string[] }> {
  const ds = url.startsWith('sqlite:')
    ? new DataSource({ type: 'better-sqlite3', database: url.slice('sqlite:'.length) })
    : new DataSource({ type: 'mysql', connectorPackage: 'mysql2', url });
  await ds.initialize();
  try {
    const rows = await ds.query('SELECT * FROM vmflow_api_tokens');
    const migrations = (await ds.query('SELECT name FROM vmflow_auth_migrations')).map((r: { name: string }) => r.name);
    const registryMigrations = (await ds.query('SELECT name FROM migrations')).map((r: { name: string }) => r.name);
    return { rows, migrations, registryMigrations };
  } finally {
    await ds.destroy();
  }
}

describeOnDatabases('API token store', (db) => {
  test('stores only a short id and the sha256 of the secret, beside the registry and its own migrations table', async () => {
    const url = await db().freshUrl();
    const registry = await openRegistry({ url });
    const store = await TokenStore.open(url);
    try {
      const { token, secret } = await store.create({ name: 'ci', role: 'operator', createdBy: 'test' });
      assert.match(secret, /^vmflow_[a-f0-9]{12}_[A-Za-z0-9_-]{43}$/);
      assert.equal(token.role, 'operator');
      assert.match(token.createdAt, /Z$/);
      const { rows, migrations, registryMigrations } = await rawRows(url);
      assert.equal(rows.length, 1);
      const stored = rows[0]!;
      const secretBytes = Buffer.from(secret.split('_').slice(2).join('_'), 'base64url');
      assert.equal(secretBytes.length, 32);
      assert.equal(stored.hash, createHash('sha256').update(secretBytes).digest('hex'));
      assert.equal(stored.id, token.id);
      assert.ok(!JSON.stringify(rows).includes(secret.slice(20)), 'the secret is not stored');
      assert.deepEqual(migrations, ['ApiTokens1700000100001']);
      assert.ok(!registryMigrations.includes('ApiTokens1700000100001'), "the registry's migrations table is not touched");
      assert.equal(await registry.count(), 0, 'the registry still works beside it');
      assert.ok(!JSON.stringify(await store.list()).includes(String(stored.hash)), 'listing never shows the hash');
    } finally {
      await store.close();
      await registry.close();
    }
  });

  test('verifies a token to its role; a tampered, unknown or malformed one is refused; a revoked one at once', async () => {
    const url = await db().freshUrl();
    const [a, b] = await Promise.all([TokenStore.open(url), TokenStore.open(url)]); // two processes migrating at once
    try {
      const { token, secret } = await a.create({ name: 'alice', role: 'admin' });
      assert.deepEqual(await b.verify(secret), { ok: true, token });
      // A middle character: the last one of 32 bytes in base64url carries 2 unused bits.
      const at = secret.length - 10;
      const tampered = secret.slice(0, at) + (secret[at] === 'A' ? 'B' : 'A') + secret.slice(at + 1);
      assert.deepEqual(await b.verify(tampered), { ok: false, reason: 'unknown' });
      assert.deepEqual(await b.verify(`vmflow_000000000000_${'A'.repeat(43)}`), { ok: false, reason: 'unknown' });
      assert.deepEqual(await b.verify('Bearer nonsense'), { ok: false, reason: 'malformed' });
      const auth = new TokenAuthenticator(b);
      assert.equal((await auth.authenticate(`Bearer ${secret}`)).role, 'admin');
      await assert.rejects(auth.authenticate(undefined), UnauthenticatedError);
      await assert.rejects(auth.authenticate(`Basic ${secret}`), /Bearer/);

      const revoked = await a.revoke(token.id);
      assert.match(String(revoked.revokedAt), /Z$/);
      assert.deepEqual(await b.verify(secret), { ok: false, reason: 'revoked' }, 'revocation is seen by another store at once');
      await assert.rejects(auth.authenticate(`Bearer ${secret}`), /revoked/);
      assert.equal((await a.revoke(token.id)).revokedAt, revoked.revokedAt, 'revoking twice changes nothing');
      assert.deepEqual(await a.list(), []);
      assert.equal((await a.list({ includeRevoked: true })).length, 1);
      await assert.rejects(a.revoke('ffffffffffff'), NotFoundError);
      await assert.rejects(a.create({ name: '', role: 'root' as never }), (err: InvalidInputError) => {
        assert.deepEqual(err.problems.map((p) => p.field), ['name', 'role']);
        return true;
      });
    } finally {
      await a.close();
      await b.close();
    }
  });
});

test('the dev admin token is created once with mode 0600, reused while valid and replaced once revoked', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-token-'));
  const store = await TokenStore.open(`sqlite:${path.join(dir, 'registry.sqlite')}`);
  try {
    const file = path.join(dir, 'nested', 'admin-token');
    const first = await ensureAdminToken(store, file);
    assert.equal(first.created, true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), first.secret);
    const again = await ensureAdminToken(store, file);
    assert.deepEqual(again, { secret: first.secret, created: false });
    const v = await store.verify(first.secret);
    assert.ok(v.ok);
    await store.revoke(v.token.id);
    const third = await ensureAdminToken(store, file);
    assert.equal(third.created, true);
    assert.notEqual(third.secret, first.secret);
    writeFileSync(file, 'garbage');
    assert.equal((await ensureAdminToken(store, file)).created, true, 'an unreadable token file is replaced');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
