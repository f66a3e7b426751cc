// How every process reaches Temporal and the registry: address, TLS (CA, client certificate and
// key, server name) and API key come from the configuration and are built here, once, so the
// worker, the API, the agent and the client connect the same way to a dev server, an mTLS
// cluster or Temporal Cloud.
import { readFileSync } from 'node:fs';
import { Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { SETTINGS, type Config } from '../config';
import { InvalidInputError } from '../domain/errors';
import type { RegistryOptions, RegistryTls } from '../registry';

/** The settings a Temporal connection is built from; only the address is required. */
export type TemporalSettings = Pick<Config, 'temporalAddress'> &
  Partial<Pick<Config, 'temporalTls' | 'temporalTlsCa' | 'temporalTlsCert' | 'temporalTlsKey' | 'temporalTlsServerName' | 'temporalApiKey'>>;

/** The settings the registry's database connection is built from; only the URL is required. */
export type RegistrySettings = Pick<Config, 'registryUrl'> & Partial<Pick<Config, 'registryTls' | 'registryTlsCa' | 'registryTlsCert' | 'registryTlsKey'>>;

export interface TemporalConnectionOptions {
  readonly address: string;
  readonly tls?: TLSConfig;
  readonly apiKey?: string;
}

/** Reads a file a setting names; an unreadable one fails with the setting's name. */
function readSetting(key: keyof Config, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new InvalidInputError([{ field: SETTINGS[key].env, problem: `names a file that cannot be read: ${(err as Error).message}` }], 'configuration');
  }
}

/** Connection options from the settings: TLS is on when asked for or implied by a file, a server name or an API key. */
export function temporalConnectionOptions(s: TemporalSettings): TemporalConnectionOptions {
  const { temporalTlsCa: ca, temporalTlsCert: cert, temporalTlsKey: key, temporalTlsServerName: serverName, temporalApiKey: apiKey } = s;
  if (Boolean(cert) !== Boolean(key)) {
    const missing: keyof Config = cert ? 'temporalTlsKey' : 'temporalTlsCert';
    throw new InvalidInputError([{ field: SETTINGS[missing].env, problem: `must be set together with ${SETTINGS[cert ? 'temporalTlsCert' : 'temporalTlsKey'].env}` }], 'configuration');
  }
  const tlsOn = Boolean(s.temporalTls || ca || cert || serverName || apiKey);
  const tls: TLSConfig | undefined = tlsOn
    ? {
        ...(ca ? { serverRootCACertificate: readSetting('temporalTlsCa', ca) } : {}),
        ...(cert && key ? { clientCertPair: { crt: readSetting('temporalTlsCert', cert), key: readSetting('temporalTlsKey', key) } } : {}),
        ...(serverName ? { serverNameOverride: serverName } : {}),
      }
    : undefined;
  return { address: s.temporalAddress, ...(tls ? { tls } : {}), ...(apiKey ? { apiKey } : {}) };
}

/** A client connection (for clients, the API, schedules). */
export function connectTemporal(s: TemporalSettings, extra: { connectTimeout?: number } = {}): Promise<Connection> {
  return Connection.connect({ ...temporalConnectionOptions(s), ...extra });
}

/** A worker connection (for workers and agents). */
export function connectTemporalWorker(s: TemporalSettings): Promise<NativeConnection> {
  return NativeConnection.connect(temporalConnectionOptions(s));
}

/** TLS for the registry's MySQL connection, or undefined when it is off. */
export function registryTls(s: RegistrySettings): RegistryTls | undefined {
  const { registryTlsCa: ca, registryTlsCert: cert, registryTlsKey: key } = s;
  if (Boolean(cert) !== Boolean(key)) {
    const missing: keyof Config = cert ? 'registryTlsKey' : 'registryTlsCert';
    throw new InvalidInputError([{ field: SETTINGS[missing].env, problem: `must be set together with ${SETTINGS[cert ? 'registryTlsCert' : 'registryTlsKey'].env}` }], 'configuration');
  }
  if (!(s.registryTls || ca || cert)) return undefined;
  if (!/^(mysql|mariadb):/.test(s.registryUrl)) {
    throw new InvalidInputError([{ field: SETTINGS.registryTls.env, problem: `applies to a MySQL registry only, not ${s.registryUrl.split(':')[0]}:` }], 'configuration');
  }
  return {
    ...(ca ? { ca: readSetting('registryTlsCa', ca) } : {}),
    ...(cert && key ? { cert: readSetting('registryTlsCert', cert), key: readSetting('registryTlsKey', key) } : {}),
  };
}

/** Registry options from the settings: the URL and, for MySQL, its TLS. */
export function registryOptions(s: RegistrySettings): RegistryOptions {
  const tls = registryTls(s);
  return { url: s.registryUrl, ...(tls ? { tls } : {}) };
}
