// The production topology: docker-compose.yml parses, every vmflow service runs a command the CLI
// has, every VMFLOW_* variable is a setting the loader knows, and what it gets loads cleanly.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { buildProgram } from '../../src/cli/main';
import { KNOWN_ENV, loadConfig } from '../../src/config';
import { SEARCH_ATTRIBUTE_TYPES } from '../../src/domain/names';

const ROOT = path.resolve(__dirname, '..', '..');
const text = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(text, { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const example = Object.fromEntries(
  readFileSync(path.join(ROOT, '.env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number> | string[];
  healthcheck?: { test: unknown };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: unknown };
  ports?: string[];
}

const vmflowServices = Object.entries(compose.services).filter(([, s]) => String(s.image ?? '').startsWith('vmflow:'));

/** `${NAME:-default}` and `${NAME:?message}` replaced by the value in .env.example. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::[-?][^}]*)?\}/g, (_m, name: string) => {
    assert.ok(name in example, `${name} is used by docker-compose.yml but not in .env.example`);
    return example[name]!;
  });
}

function environmentOf(s: Service): Record<string, string> {
  const env = Array.isArray(s.environment) ? Object.fromEntries(s.environment.map((e) => e.split('=', 2) as [string, string])) : (s.environment ?? {});
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v))]));
}

test('the topology has MySQL, Temporal on MySQL, the Web UI, scalable workers and the API, with health checks', () => {
  for (const name of ['mysql', 'temporal', 'temporal-setup', 'temporal-ui', 'vmflow-worker', 'vmflow-api']) assert.ok(compose.services[name], `service ${name}`);
  assert.match(String(compose.services.mysql!.image), /^mysql:\$\{MYSQL_VERSION/);
  assert.match(String(compose.services.temporal!.image), /^temporalio\/auto-setup:/);
  assert.equal(environmentOf(compose.services.temporal!).DB, 'mysql8');
  assert.match(String(compose.services['temporal-ui']!.image), /^temporalio\/ui:/);
  for (const name of ['mysql', 'temporal', 'vmflow-worker', 'vmflow-api']) assert.ok(compose.services[name]!.healthcheck?.test, `${name} has a health check`);
  assert.equal(interpolate(String(compose.services['vmflow-worker']!.deploy?.replicas)), example.WORKER_REPLICAS);
  assert.deepEqual(vmflowServices.map(([n]) => n).sort(), ['vmflow-api', 'vmflow-worker']);
  for (const [name, s] of vmflowServices) {
    assert.equal(s.depends_on?.mysql?.condition, 'service_healthy', `${name} waits for MySQL`);
    assert.equal(s.depends_on?.['temporal-setup']?.condition, 'service_completed_successfully', `${name} waits for the search attributes`);
  }
  const setup = JSON.stringify(compose.services['temporal-setup']!.command);
  for (const [attribute, type] of Object.entries(SEARCH_ATTRIBUTE_TYPES)) assert.ok(setup.includes(`${attribute}=${type}`), `search attribute ${attribute} is registered`);
});

test('each vmflow service runs a command the CLI has', () => {
  const commands = new Set(buildProgram().commands.map((c) => c.name()));
  for (const [name, s] of vmflowServices) {
    const argv = Array.isArray(s.command) ? s.command : String(s.command ?? '').split(/\s+/);
    assert.ok(argv[0], `${name} has a command`);
    assert.ok(commands.has(argv[0]!), `${name} runs "${argv[0]}", which is not a vmflow command (${[...commands].join(', ')})`);
  }
});

test('each VMFLOW_* variable is a setting the loader knows, and the settings load', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    const env = environmentOf(s);
    const vmflowVars = Object.keys(env).filter((k) => k.startsWith('VMFLOW_'));
    for (const k of vmflowVars) assert.ok(KNOWN_ENV.has(k), `${name}: ${k} is not a vmflow setting`);
    if (!vmflowVars.length) continue;
    const config = loadConfig(env);
    assert.match(config.registryUrl, /^mysql:\/\/vmflow:/, `${name} uses MySQL`);
    assert.equal(config.temporalAddress, 'temporal:7233');
  }
  const api = loadConfig(environmentOf(compose.services['vmflow-api']!));
  assert.equal(api.apiHost, '0.0.0.0');
  assert.ok(compose.services['vmflow-api']!.ports?.some((p) => interpolate(p).endsWith(`:${api.apiPort}`)), 'the API port is published');
  const worker = loadConfig(environmentOf(compose.services['vmflow-worker']!));
  assert.ok(worker.workerMetricsPort > 0, 'workers export their metrics');
});

test('.env.example holds every variable docker-compose.yml uses, and passwords are required', () => {
  const used = new Set([...text.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!));
  for (const name of used) assert.ok(name in example, `${name} missing from .env.example`);
  assert.match(text, /\$\{MYSQL_ROOT_PASSWORD:\?/);
  assert.match(text, /\$\{MYSQL_VMFLOW_PASSWORD:\?/);
  for (const k of Object.keys(example)) assert.ok(!k.startsWith('VMFLOW_'), `${k}: compose variables are not named like vmflow settings`);
});
