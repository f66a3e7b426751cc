// The one configuration loader: environment variables over an optional JSON file
// (VMFLOW_CONFIG), validated at start with errors naming the bad setting.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError, type FieldProblem } from '../domain/errors';

export interface Config {
  readonly dataDir: string;
  readonly temporalAddress: string;
  readonly namespace: string;
  readonly registryUrl: string;
  readonly ipPool: string;
  readonly apiHost: string;
  readonly apiPort: number;
  /** Where the CLI reaches the REST API. */
  readonly apiUrl: string;
  /** The bearer token the CLI sends; when empty, the token file `vmflow dev` writes, if any. */
  readonly apiToken: string;
  readonly simUrl: string;
  readonly simPort: number;
  readonly webUiUrl: string;
  readonly monitorIntervalSeconds: number;
  readonly downAfterFailures: number;
  readonly orphanGraceSeconds: number;
  readonly collectorIntervalSeconds: number;
  readonly claimTtlSeconds: number;
  /** Folder the fence agents named by hosts' `fence` are run from. */
  readonly fenceAgentDir: string;
  readonly pollTimeoutMs: number;
  readonly logLevel: string;
  /** Concurrent activities per worker. */
  readonly workerConcurrency: number;
  /** Where `vmflow dev` keeps the admin token it creates on first run (mode 0600). */
  readonly apiTokenFile: string;
  /** Role of requests without a token: `none` (the default) refuses them. */
  readonly apiAnonymousRole: 'none' | 'viewer' | 'operator' | 'admin';
  /** Largest request body the API accepts, in bytes. */
  readonly apiBodyLimit: number;
  /** Port of the worker's Prometheus exporter (Temporal SDK metrics); 0 turns it off. */
  readonly workerMetricsPort: number;
  /** Address the worker's Prometheus exporter binds to. */
  readonly metricsHost: string;
  /** Seconds a stopping worker lets its running activities finish (a live migration) before cancelling them. */
  readonly shutdownGraceSeconds: number;
  /** TLS to Temporal; implied by any of the TLS files, the server name or an API key. */
  readonly temporalTls: boolean;
  /** PEM file of the CA that signed Temporal's server certificate; the system's CAs when empty. */
  readonly temporalTlsCa: string;
  /** PEM files of this client's certificate and key, for mTLS clusters. */
  readonly temporalTlsCert: string;
  readonly temporalTlsKey: string;
  /** Name checked against Temporal's server certificate (SNI), when it differs from the address's host. */
  readonly temporalTlsServerName: string;
  /** API key sent as a bearer token (Temporal Cloud); implies TLS. */
  readonly temporalApiKey: string;
  /** TLS to the registry's MySQL server; implied by any of its TLS files. */
  readonly registryTls: boolean;
  readonly registryTlsCa: string;
  readonly registryTlsCert: string;
  readonly registryTlsKey: string;
}

type Kind = 'string' | 'port' | 'positive' | 'url' | 'choice' | 'boolean' | 'file';
interface Setting {
  readonly env: string;
  readonly kind: Kind;
  readonly fallback: (c: Record<string, unknown>) => string | number | boolean;
  /** The values a `choice` setting accepts. */
  readonly choices?: readonly string[];
}

/** Every setting: its environment variable, its kind and its default. */
export const SETTINGS: Record<keyof Config, Setting> = {
  dataDir: { env: 'VMFLOW_DATA_DIR', kind: 'string', fallback: () => path.resolve('.vmflow') },
  temporalAddress: { env: 'VMFLOW_TEMPORAL_ADDRESS', kind: 'string', fallback: () => '127.0.0.1:7233' },
  namespace: { env: 'VMFLOW_NAMESPACE', kind: 'string', fallback: () => 'default' },
  registryUrl: { env: 'VMFLOW_REGISTRY_URL', kind: 'url', fallback: (c) => `sqlite:${path.join(String(c.dataDir), 'registry.sqlite')}` },
  ipPool: { env: 'VMFLOW_IP_POOL', kind: 'string', fallback: () => '10.0.0.0/16' },
  apiHost: { env: 'VMFLOW_API_HOST', kind: 'string', fallback: () => '127.0.0.1' },
  apiPort: { env: 'VMFLOW_API_PORT', kind: 'port', fallback: () => 8080 },
  apiUrl: { env: 'VMFLOW_API_URL', kind: 'url', fallback: (c) => `http://${c.apiHost === '0.0.0.0' ? '127.0.0.1' : c.apiHost}:${c.apiPort}` },
  apiToken: { env: 'VMFLOW_TOKEN', kind: 'string', fallback: () => '' },
  simPort: { env: 'VMFLOW_SIM_PORT', kind: 'port', fallback: () => 7070 },
  simUrl: { env: 'VMFLOW_SIM_URL', kind: 'url', fallback: (c) => `http://127.0.0.1:${c.simPort}` },
  webUiUrl: { env: 'VMFLOW_WEB_UI_URL', kind: 'url', fallback: () => 'http://127.0.0.1:8233' },
  monitorIntervalSeconds: { env: 'VMFLOW_MONITOR_INTERVAL', kind: 'positive', fallback: () => 15 },
  downAfterFailures: { env: 'VMFLOW_DOWN_AFTER', kind: 'positive', fallback: () => 3 },
  orphanGraceSeconds: { env: 'VMFLOW_ORPHAN_GRACE', kind: 'positive', fallback: () => 600 },
  collectorIntervalSeconds: { env: 'VMFLOW_COLLECTOR_INTERVAL', kind: 'positive', fallback: () => 60 },
  fenceAgentDir: { env: 'VMFLOW_FENCE_AGENT_DIR', kind: 'string', fallback: () => '/usr/sbin' },
  claimTtlSeconds: { env: 'VMFLOW_CLAIM_TTL', kind: 'positive', fallback: () => 900 },
  pollTimeoutMs: { env: 'VMFLOW_POLL_TIMEOUT_MS', kind: 'positive', fallback: () => 5000 },
  logLevel: { env: 'VMFLOW_LOG_LEVEL', kind: 'string', fallback: () => 'info' },
  workerConcurrency: { env: 'VMFLOW_WORKER_CONCURRENCY', kind: 'positive', fallback: () => 100 },
  apiTokenFile: { env: 'VMFLOW_API_TOKEN_FILE', kind: 'string', fallback: (c) => path.join(String(c.dataDir), 'admin-token') },
  apiAnonymousRole: { env: 'VMFLOW_API_ANONYMOUS_ROLE', kind: 'choice', choices: ['none', 'viewer', 'operator', 'admin'], fallback: () => 'none' },
  apiBodyLimit: { env: 'VMFLOW_API_BODY_LIMIT', kind: 'positive', fallback: () => 262_144 },
  workerMetricsPort: { env: 'VMFLOW_WORKER_METRICS_PORT', kind: 'port', fallback: () => 0 },
  metricsHost: { env: 'VMFLOW_METRICS_HOST', kind: 'string', fallback: () => '127.0.0.1' },
  shutdownGraceSeconds: { env: 'VMFLOW_SHUTDOWN_GRACE', kind: 'positive', fallback: () => 300 },
  temporalTls: { env: 'VMFLOW_TEMPORAL_TLS', kind: 'boolean', fallback: () => false },
  temporalTlsCa: { env: 'VMFLOW_TEMPORAL_TLS_CA', kind: 'file', fallback: () => '' },
  temporalTlsCert: { env: 'VMFLOW_TEMPORAL_TLS_CERT', kind: 'file', fallback: () => '' },
  temporalTlsKey: { env: 'VMFLOW_TEMPORAL_TLS_KEY', kind: 'file', fallback: () => '' },
  temporalTlsServerName: { env: 'VMFLOW_TEMPORAL_TLS_SERVER_NAME', kind: 'string', fallback: () => '' },
  temporalApiKey: { env: 'VMFLOW_TEMPORAL_API_KEY', kind: 'string', fallback: () => '' },
  registryTls: { env: 'VMFLOW_REGISTRY_TLS', kind: 'boolean', fallback: () => false },
  registryTlsCa: { env: 'VMFLOW_REGISTRY_TLS_CA', kind: 'file', fallback: () => '' },
  registryTlsCert: { env: 'VMFLOW_REGISTRY_TLS_CERT', kind: 'file', fallback: () => '' },
  registryTlsKey: { env: 'VMFLOW_REGISTRY_TLS_KEY', kind: 'file', fallback: () => '' },
};

/** Settings that name a file and must be given together. */
const PAIRS: ReadonlyArray<readonly [keyof Config, keyof Config]> = [
  ['temporalTlsCert', 'temporalTlsKey'],
  ['registryTlsCert', 'registryTlsKey'],
];

/** Environment variable names the loader reads (the compose test checks against these). */
export const KNOWN_ENV = new Set(['VMFLOW_CONFIG', ...Object.values(SETTINGS).map((s) => s.env)]);

function parse(name: string, setting: Setting, raw: unknown, problems: FieldProblem[]): string | number | boolean | undefined {
  const text = String(raw).trim();
  switch (setting.kind) {
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      problems.push({ field: name, problem: `must be true or false, not "${text}"` });
      return false;
    case 'file':
      try {
        if (!statSync(text).isFile()) throw new Error('it is not a file');
        accessSync(text, constants.R_OK);
      } catch (err) {
        problems.push({ field: name, problem: `must name a readable file, not "${text}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` });
      }
      return text;
    case 'choice':
      if (!setting.choices?.includes(text)) problems.push({ field: name, problem: `must be one of ${setting.choices?.join(', ')}, not "${text}"` });
      return text;
    case 'port': {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 0 || n > 65535) problems.push({ field: name, problem: `must be a port number 0-65535, not "${text}"` });
      return n;
    }
    case 'positive': {
      const n = Number(text);
      if (!Number.isFinite(n) || n <= 0) problems.push({ field: name, problem: `must be a positive number, not "${text}"` });
      return n;
    }
    case 'url':
      if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) problems.push({ field: name, problem: `must be a URL, not "${text}"` });
      return text;
    default:
      if (!text) problems.push({ field: name, problem: 'must not be empty' });
      return text;
  }
}

/** Loads the configuration; `overrides` (from CLI flags) win over the environment, which wins over the file. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const problems: FieldProblem[] = [];
  let file: Record<string, unknown> = {};
  if (env.VMFLOW_CONFIG) {
    try {
      file = JSON.parse(readFileSync(env.VMFLOW_CONFIG, 'utf8'));
    } catch (err) {
      throw new InvalidInputError([{ field: 'VMFLOW_CONFIG', problem: `cannot be read as JSON: ${(err as Error).message}` }], 'configuration');
    }
    for (const k of Object.keys(file)) if (!(k in SETTINGS)) problems.push({ field: `${env.VMFLOW_CONFIG}: ${k}`, problem: 'is not a setting' });
  }
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('VMFLOW_') && !KNOWN_ENV.has(k)) problems.push({ field: k, problem: 'is not a vmflow setting' });
    void v;
  }
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as [keyof Config, Setting][]) {
    const raw = overrides[key] ?? env[s.env] ?? file[key];
    out[key] = raw === undefined || raw === '' ? s.fallback(out) : parse(overrides[key] !== undefined ? key : raw === env[s.env] ? s.env : key, s, raw, problems);
  }
  for (const [a, b] of PAIRS) {
    if (Boolean(out[a]) !== Boolean(out[b])) {
      const [given, missing] = out[a] ? [a, b] : [b, a];
      problems.push({ field: SETTINGS[missing].env, problem: `must be set together with ${SETTINGS[given].env}` });
    }
  }
  if (problems.length) throw new InvalidInputError(problems, 'configuration');
  return out as unknown as Config;
}
