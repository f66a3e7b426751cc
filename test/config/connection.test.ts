// Connection settings for real clusters: TLS and API key for Temporal, TLS for a MySQL registry,
// read by the one loader and built by src/temporal/connection.ts; a bad path names its setting.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../src/config';
import { InvalidInputError } from '../../src/domain/errors';
import { registryOptions, temporalConnectionOptions } from '../../src/temporal/connection';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-config-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const ca = file('ca.pem', 'CA');
const cert = file('client.pem', 'CERT');
const key = file('client.key', 'KEY');

/** The problems a rejected configuration names, as `field problem` lines. */
function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${err}`);
    return err.problems.map((p) => `${p.field} ${p.problem}`);
  }
  assert.fail('the configuration was accepted');
}

describe('connection settings', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('without TLS settings the connection is plain, as for the dev server', () => {
    const c = loadConfig({});
    assert.equal(c.temporalTls, false);
    assert.equal(c.shutdownGraceSeconds, 300);
    assert.deepEqual(temporalConnectionOptions(c), { address: '127.0.0.1:7233' });
    assert.deepEqual(registryOptions(c), { url: c.registryUrl });
  });

  test('an mTLS cluster: CA, client certificate and key, server name', () => {
    const c = loadConfig({
      VMFLOW_TEMPORAL_ADDRESS: 'temporal.example:7233',
      VMFLOW_TEMPORAL_TLS_CA: ca,
      VMFLOW_TEMPORAL_TLS_CERT: cert,
      VMFLOW_TEMPORAL_TLS_KEY: key,
      VMFLOW_TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal.internal',
    });
    const o = temporalConnectionOptions(c);
    assert.equal(o.address, 'temporal.example:7233');
    assert.equal(Buffer.from(o.tls!.serverRootCACertificate!).toString(), 'CA');
    assert.equal(Buffer.from(o.tls!.clientCertPair!.crt).toString(), 'CERT');
    assert.equal(Buffer.from(o.tls!.clientCertPair!.key).toString(), 'KEY');
    assert.equal(o.tls!.serverNameOverride, 'frontend.temporal.internal');
    assert.equal(o.apiKey, undefined);
  });

  test('Temporal Cloud with an API key: TLS with the system CAs, the key as bearer token', () => {
    const c = loadConfig({ VMFLOW_TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', VMFLOW_TEMPORAL_API_KEY: 'secret-key', VMFLOW_NAMESPACE: 'ns.acct' });
    assert.deepEqual(temporalConnectionOptions(c), { address: 'ns.acct.tmprl.cloud:7233', tls: {}, apiKey: 'secret-key' });
  });

  test('TLS alone, from the config file, as a boolean', () => {
    const config = file('vmflow.json', JSON.stringify({ temporalTls: true, shutdownGraceSeconds: 45 }));
    const c = loadConfig({ VMFLOW_CONFIG: config });
    assert.equal(c.shutdownGraceSeconds, 45);
    assert.deepEqual(temporalConnectionOptions(c).tls, {});
    assert.deepEqual(problems(() => loadConfig({ VMFLOW_TEMPORAL_TLS: 'maybe' })), ['VMFLOW_TEMPORAL_TLS must be true or false, not "maybe"']);
  });

  test('a TLS file that does not exist stops the start, naming the setting and the path', () => {
    const missing = path.join(dir, 'nope.pem');
    assert.deepEqual(problems(() => loadConfig({ VMFLOW_TEMPORAL_TLS_CA: missing })), [`VMFLOW_TEMPORAL_TLS_CA must name a readable file, not "${missing}" (ENOENT)`]);
    assert.deepEqual(problems(() => loadConfig({ VMFLOW_REGISTRY_TLS_CA: dir, VMFLOW_REGISTRY_URL: 'mysql://u:p@db:3306/vmflow' })), [
      `VMFLOW_REGISTRY_TLS_CA must name a readable file, not "${dir}" (it is not a file)`,
    ]);
    const config = file('bad.json', JSON.stringify({ temporalTlsCert: missing, temporalTlsKey: key }));
    assert.deepEqual(problems(() => loadConfig({ VMFLOW_CONFIG: config })), [`temporalTlsCert must name a readable file, not "${missing}" (ENOENT)`]);
  });

  test('an unreadable file names its setting too', { skip: process.getuid?.() === 0 && 'root reads any file' }, () => {
    const locked = file('locked.key', 'KEY');
    chmodSync(locked, 0o000);
    assert.match(problems(() => loadConfig({ VMFLOW_TEMPORAL_TLS_CERT: cert, VMFLOW_TEMPORAL_TLS_KEY: locked }))[0]!, /^VMFLOW_TEMPORAL_TLS_KEY must name a readable file.*EACCES/);
  });

  test('a file removed after the start is named when the connection is built', () => {
    const gone = file('gone.pem', 'CA');
    const c = loadConfig({ VMFLOW_TEMPORAL_TLS_CA: gone });
    rmSync(gone);
    assert.match(problems(() => temporalConnectionOptions(c))[0]!, /^VMFLOW_TEMPORAL_TLS_CA names a file that cannot be read: ENOENT/);
  });

  test('a certificate needs its key, and the other way round', () => {
    assert.deepEqual(problems(() => loadConfig({ VMFLOW_TEMPORAL_TLS_CERT: cert })), ['VMFLOW_TEMPORAL_TLS_KEY must be set together with VMFLOW_TEMPORAL_TLS_CERT']);
    assert.deepEqual(problems(() => loadConfig({ VMFLOW_REGISTRY_TLS_KEY: key })), ['VMFLOW_REGISTRY_TLS_CERT must be set together with VMFLOW_REGISTRY_TLS_KEY']);
    assert.deepEqual(problems(() => temporalConnectionOptions({ temporalAddress: 'x:7233', temporalTlsKey: key })), ['VMFLOW_TEMPORAL_TLS_CERT must be set together with VMFLOW_TEMPORAL_TLS_KEY']);
  });

  test('a MySQL registry over TLS gets the CA and client certificate; SQLite refuses TLS', () => {
    const c = loadConfig({ VMFLOW_REGISTRY_URL: 'mysql://vmflow:pw@db.example:3306/vmflow', VMFLOW_REGISTRY_TLS_CA: ca, VMFLOW_REGISTRY_TLS_CERT: cert, VMFLOW_REGISTRY_TLS_KEY: key });
    const o = registryOptions(c);
    assert.equal(o.url, 'mysql://vmflow:pw@db.example:3306/vmflow');
    assert.deepEqual({ ca: String(o.tls!.ca), cert: String(o.tls!.cert), key: String(o.tls!.key) }, { ca: 'CA', cert: 'CERT', key: 'KEY' });
    assert.deepEqual(registryOptions(loadConfig({ VMFLOW_REGISTRY_URL: 'mysql://vmflow:pw@db:3306/vmflow', VMFLOW_REGISTRY_TLS: 'true' })).tls, {});
    assert.deepEqual(problems(() => registryOptions(loadConfig({ VMFLOW_REGISTRY_TLS: 'on', VMFLOW_REGISTRY_URL: 'sqlite:/tmp/r.sqlite' }))), [
      'VMFLOW_REGISTRY_TLS applies to a MySQL registry only, not sqlite:',
    ]);
  });
});
