// The production topology: docker-compose.yml parses, every vmflow service runs a command the CLI
// has, every VMFLOW_* variable is a setting the loader knows, and what it gets loads cleanly; and
// it mirrors the production test tier — the same versions, the same Temporal server settings and
// dynamic config file, the same temporal-sql-tool steps and the same `vmflow temporal setup`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { buildProgram } from '../../src/cli/main';
import { KNOWN_ENV, loadConfig } from '../../src/config';
import { DYNAMIC_CONFIG_FILE, MYSQL_VERSION, NAMESPACE, POSTGRES_MAJOR, RETENTION, schemaSteps, TEMPORAL_SERVER_SETTINGS, TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '../../scripts/production/versions';

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
  entrypoint?: string | string[];
  volumes?: string[];
  stop_grace_period?: string;
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

test('the topology: PostgreSQL, its schema job, Temporal, vmflow setup, the Web UI, MySQL, scalable workers and the API, with health checks', () => {
  for (const name of ['postgresql', 'temporal-schema', 'temporal', 'vmflow-setup', 'temporal-ui', 'mysql', 'vmflow-worker', 'vmflow-api']) assert.ok(compose.services[name], `service ${name}`);
  assert.ok(!/auto-setup/.test(text), 'no temporalio/auto-setup: the schema is set up by temporal-sql-tool, as in the tier');
  for (const name of ['postgresql', 'temporal', 'mysql', 'vmflow-worker', 'vmflow-api']) assert.ok(compose.services[name]!.healthcheck?.test, `${name} has a health check`);
  assert.equal(interpolate(String(compose.services['vmflow-worker']!.deploy?.replicas)), example.WORKER_REPLICAS);
  assert.deepEqual(vmflowServices.map(([n]) => n).sort(), ['vmflow-api', 'vmflow-setup', 'vmflow-worker']);
  for (const [name, s] of vmflowServices.filter(([n]) => n !== 'vmflow-setup')) {
    assert.equal(s.depends_on?.mysql?.condition, 'service_healthy', `${name} waits for MySQL`);
    assert.equal(s.depends_on?.['vmflow-setup']?.condition, 'service_completed_successfully', `${name} waits for vmflow's namespace and search attributes`);
  }
  assert.equal(compose.services.temporal!.depends_on?.['temporal-schema']?.condition, 'service_completed_successfully', 'Temporal waits for its schema');
  assert.equal(compose.services['vmflow-setup']!.depends_on?.temporal?.condition, 'service_healthy', 'setup waits for Temporal');
});

/** The tag of `service`'s image, interpolated: `temporalio/server:1.32.1` -> `1.32.1`. */
function tagOf(service: string, repository: string): string {
  const image = interpolate(String(compose.services[service]!.image));
  assert.ok(image.startsWith(`${repository}:`), `${service} runs ${image}, not ${repository}`);
  return image.slice(repository.length + 1);
}

/** The default written in docker-compose.yml for `${NAME:-default}`. */
function defaultOf(name: string): string | undefined {
  return new RegExp(`\\$\\{${name}:-([^}]*)\\}`).exec(text)?.[1];
}

test('compose runs the versions the production tier tests', () => {
  assert.equal(tagOf('temporal', 'temporalio/server'), TEMPORAL_SERVER_VERSION);
  assert.equal(tagOf('temporal-schema', 'temporalio/admin-tools'), TEMPORAL_SERVER_VERSION);
  assert.equal(tagOf('temporal-ui', 'temporalio/ui'), TEMPORAL_UI_VERSION);
  assert.equal(tagOf('postgresql', 'postgres'), POSTGRES_MAJOR);
  assert.equal(tagOf('mysql', 'mysql'), MYSQL_VERSION);
  for (const [name, version] of [['TEMPORAL_VERSION', TEMPORAL_SERVER_VERSION], ['TEMPORAL_UI_VERSION', TEMPORAL_UI_VERSION], ['POSTGRES_VERSION', POSTGRES_MAJOR], ['MYSQL_VERSION', MYSQL_VERSION]]) {
    assert.equal(defaultOf(name!), version, `the default of \${${name}} in docker-compose.yml`);
    assert.equal(example[name!], version, `${name} in .env.example`);
  }
});

test("Temporal gets the tier's settings and the same dynamic config file", () => {
  const env = environmentOf(compose.services.temporal!);
  for (const [k, v] of Object.entries(TEMPORAL_SERVER_SETTINGS)) assert.equal(env[k], v, `temporal: ${k}`);
  // The settings the tier gives for where things are, here pointing at the compose services.
  assert.equal(env.POSTGRES_SEEDS, 'postgresql');
  assert.equal(env.POSTGRES_USER, environmentOf(compose.services.postgresql!).POSTGRES_USER);
  assert.equal(env.POSTGRES_PWD, environmentOf(compose.services.postgresql!).POSTGRES_PASSWORD);
  const mount = (compose.services.temporal!.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === env.DYNAMIC_CONFIG_FILE_PATH);
  assert.ok(mount, `the dynamic config file ${env.DYNAMIC_CONFIG_FILE_PATH} is mounted`);
  assert.equal(path.normalize(mount[0]!), path.normalize(`./${DYNAMIC_CONFIG_FILE}`));
  const dynamic = parse(readFileSync(path.join(ROOT, DYNAMIC_CONFIG_FILE), 'utf8')) as Record<string, Array<{ value: unknown }>>;
  assert.equal(dynamic['frontend.enableUpdateWorkflowExecution']?.[0]?.value, true, 'update-with-start needs Updates');
});

test("the schema job runs the tier's temporal-sql-tool steps, in order, against PostgreSQL", () => {
  const job = compose.services['temporal-schema']!;
  const env = environmentOf(job);
  assert.deepEqual(
    { plugin: env.SQL_PLUGIN, host: env.SQL_HOST, user: env.SQL_USER, password: env.SQL_PASSWORD },
    { plugin: TEMPORAL_SERVER_SETTINGS.DB, host: 'postgresql', user: environmentOf(compose.services.temporal!).POSTGRES_USER, password: environmentOf(compose.services.temporal!).POSTGRES_PWD },
  );
  const script = (Array.isArray(job.command) ? job.command.join('\n') : String(job.command)).split('\n').map((l) => l.trim()).filter((l) => l.startsWith('temporal-sql-tool'));
  const expected = schemaSteps().map((step) => `temporal-sql-tool ${step.args.join(' ')}${step.mayFail ? ' || true' : ''}`);
  assert.deepEqual(script, expected);
});

test('vmflow setup runs `vmflow temporal setup` with the namespace and retention the tier uses', () => {
  const setup = compose.services['vmflow-setup']!;
  const argv = (setup.command as string[]).map(interpolate);
  assert.deepEqual(argv, ['temporal', 'setup', '--namespace', NAMESPACE, '--retention', RETENTION]);
  assert.equal(defaultOf('NAMESPACE'), NAMESPACE);
  assert.equal(defaultOf('RETENTION'), RETENTION);
  for (const [name, s] of vmflowServices) assert.equal(environmentOf(s).VMFLOW_NAMESPACE, NAMESPACE, `${name} uses vmflow's namespace`);
  const ui = environmentOf(compose.services['temporal-ui']!);
  assert.equal(ui.TEMPORAL_ADDRESS, 'temporal:7233');
  assert.equal(ui.TEMPORAL_DEFAULT_NAMESPACE, NAMESPACE);
});

test('workers and the API run the compiled image, and a worker gets at least 5 minutes to stop', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /RUN npx tsx scripts\/build\.ts/);
  assert.match(dockerfile, /ENTRYPOINT \["node", "--enable-source-maps", "dist\/src\/cli\/main\.js"\]/);
  assert.doesNotMatch(dockerfile.slice(dockerfile.lastIndexOf('FROM ')), /tsx/, 'the runtime stage runs no TypeScript');
  for (const [name, s] of vmflowServices) assert.equal((s.build as { dockerfile?: string })?.dockerfile, 'Dockerfile', `${name} is built from the Dockerfile`);
  const grace = String(compose.services['vmflow-worker']!.stop_grace_period ?? '0s');
  const m = /^(\d+)(s|m|h)$/.exec(grace);
  assert.ok(m, `stop_grace_period ${grace}`);
  assert.ok(Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'] >= 300, `workers get ${grace} to stop`);
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
