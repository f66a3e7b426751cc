// The registry over TLS, on a real MariaDB whose certificate a test CA signed: with
// VMFLOW_REGISTRY_TLS_CA the connection is encrypted and the server's certificate verified; a
// certificate from another CA is refused; without the setting the connection is plain.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config';
import { dataSourceFor, openRegistry } from '../../src/registry';
import { registryOptions } from '../../src/temporal/connection';
import { mariaDbUnavailable, startMariaDb, type MariaDb } from '../support/mariadb';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-tls-'));
const file = (name: string) => path.join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

/** A CA, and a certificate it signs for 127.0.0.1. */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`));
}
function makeServerCert(ca: string): void {
  writeFileSync(file('san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', file('server.key'), '-out', file('server.csr'));
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file(`${ca}.pem`), '-CAkey', file(`${ca}.key`), '-CAcreateserial', '-days', '2', '-extfile', file('san.cnf'), '-out', file('server.pem'));
}

const skip = process.env.MYSQL_URL ? 'MYSQL_URL names a server whose TLS this test does not set up' : mariaDbUnavailable();

describe('registry over TLS', { skip }, () => {
  let db: MariaDb;
  before(async () => {
    makeCa('test-ca');
    makeCa('other-ca');
    makeServerCert('test-ca');
    db = (await startMariaDb({ serverArgs: [`--ssl-ca=${file('test-ca.pem')}`, `--ssl-cert=${file('server.pem')}`, `--ssl-key=${file('server.key')}`] }))!;
  });
  after(async () => {
    await db?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The cipher of a connection opened with the settings, '' when it is plain. */
  async function cipher(env: Record<string, string>): Promise<string> {
    const { dataSourceOptions } = dataSourceFor(registryOptions(loadConfig({ VMFLOW_REGISTRY_URL: db.url, ...env })));
    const ds = new DataSource(dataSourceOptions);
    await ds.initialize();
    try {
      const [row] = await ds.query(`SHOW SESSION STATUS LIKE 'Ssl_cipher'`);
      return String(row?.Value ?? '');
    } finally {
      await ds.destroy();
    }
  }

  test('with the CA the connection is encrypted and the registry opens (migrations included)', async () => {
    assert.notEqual(await cipher({ VMFLOW_REGISTRY_TLS_CA: file('test-ca.pem') }), '');
    const registry = await openRegistry(registryOptions(loadConfig({ VMFLOW_REGISTRY_URL: db.url, VMFLOW_REGISTRY_TLS_CA: file('test-ca.pem') })));
    await registry.close();
  });

  test('a server certificate from another CA is refused', async () => {
    await assert.rejects(cipher({ VMFLOW_REGISTRY_TLS_CA: file('other-ca.pem') }), /certificate/i);
  });

  test('without TLS settings the connection is plain', async () => {
    assert.equal(await cipher({}), '');
  });
});
