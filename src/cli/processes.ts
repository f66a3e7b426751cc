// The long-running processes: worker, API, sim, and `dev` (everything on the embedded default).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import type { Config } from '../config';
import { connect } from '../client';
import { runSim, SimAdmin } from '../sim';
import { startDevServer } from '../temporal/dev-server';
import { connectTemporal, connectTemporalWorker, registryTls } from '../temporal/connection';
import { assertClusterReady } from '../temporal/setup';
import { createWorker, openServices } from '../worker';
import { ensureSchedules } from '../monitor/schedules';
import { buildApi } from '../api';
import { dashboardSource } from '../dashboard/bundle';
import { ensureAdminToken, TokenStore } from '../auth';
import { createLogger } from '../log';
import { serveWorkerMetrics } from '../metrics/worker';

const ROOT = path.resolve(__dirname, '..', '..');

/** Resolves on SIGINT or SIGTERM. */
function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

export async function runWorkerProcess(config: Config): Promise<void> {
  const log = createLogger({ level: config.logLevel, name: 'vmflow-worker' });
  const metrics = await serveWorkerMetrics(config, log);
  if (metrics) log.info({ metrics: metrics.url }, 'worker metrics (vmflow and the Temporal SDK, Prometheus)');
  const services = await openServices(config);
  const connection = await connectTemporalWorker(config);
  const clientConnection = await connectTemporal(config);
  await assertClusterReady(clientConnection, config);
  const client = new Client({ connection: clientConnection, namespace: config.namespace });
  const worker = await createWorker({
    connection,
    client,
    namespace: config.namespace,
    services,
    concurrency: config.workerConcurrency,
    claimTtlSeconds: config.claimTtlSeconds,
    shutdownGraceSeconds: config.shutdownGraceSeconds,
  });
  const running = worker.run();
  // SIGTERM (a deploy) stops polling and lets running activities finish for up to the grace time:
  // a live migration completes, and its command goes on on the workers that remain.
  void untilStopped().then((signal) => {
    log.info({ signal, graceSeconds: config.shutdownGraceSeconds }, 'stopping: running activities may finish');
    try {
      worker.shutdown();
    } catch {
      // The Temporal runtime began shutting the worker down on the same signal.
    }
  });
  // Every worker makes sure the monitor and collector run, with today's settings (a worker stopped
  // meanwhile does not wait for it).
  await Promise.race([
    ensureSchedules(client, config).catch((err) => log.error({ err: String(err) }, 'the monitor and collector could not be started or updated; another worker may')),
    running,
  ]);
  await running;
  log.info('worker stopped');
  await connection.close();
  await clientConnection.close();
  await services.close();
  await metrics?.close();
  log.flush();
}

/** `vmflow api`: the REST API on config.apiHost:apiPort (or the given host and port). */
export async function runApiProcess(config: Config, listen: { host?: string; port?: number } = {}): Promise<void> {
  const log = createLogger({ level: config.logLevel, name: 'vmflow-api' });
  const client = await connect({ ...config, identity: 'vmflow-api' });
  const tokens = await TokenStore.open(config.registryUrl, registryTls(config));
  const dashboard = await dashboardSource();
  if ('unavailable' in dashboard) log.warn({ reason: dashboard.unavailable }, 'the dashboard is not available');
  const app = await buildApi({ client, auth: tokens, config, logger: log, dashboard });
  const url = await app.listen({ host: listen.host ?? config.apiHost, port: listen.port ?? config.apiPort });
  log.info({ url, openapi: `${url}/openapi.json`, anonymousRole: config.apiAnonymousRole }, 'vmflow API listening');
  console.error(`vmflow API on ${url}   (OpenAPI: ${url}/openapi.json, metrics: ${url}/metrics)`);
  await untilStopped();
  await app.close();
  await tokens.close();
  await client.close();
  log.flush();
}

export async function runSimProcess(options: { port: number; stateDir: string }): Promise<void> {
  const sim = await runSim({ port: options.port, stateDir: options.stateDir });
  console.log(JSON.stringify({ url: sim.url }));
  await untilStopped();
  await sim.close();
}

const DEV_HOSTS = [
  { id: 'hv-1', cpus: 16, memoryMiB: 32768, diskGiB: 1000 },
  { id: 'hv-2', cpus: 16, memoryMiB: 32768, diskGiB: 1000 },
  { id: 'hv-3', cpus: 8, memoryMiB: 16384, diskGiB: 500 },
  { id: 'hv-4', cpus: 8, memoryMiB: 16384, diskGiB: 500 },
];

function spawnSim(port: number, stateDir: string): { child: ChildProcess; url: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), 'sim', '--port', String(port), '--state-dir', stateDir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line).url);
    });
    child.once('exit', (code) => reject(new Error(`sim exited with ${code}`)));
  });
  return { child, url };
}

/** `npm start`: Temporal dev server with its Web UI and a file database, the sim, the registry, the worker. */
export async function runDev(config: Config): Promise<void> {
  const dataDir = config.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const [tHost, tPort] = config.temporalAddress.split(':');
  const uiPort = Number(new URL(config.webUiUrl).port || 8233);
  console.log('vmflow: starting the Temporal dev server (file database in .vmflow/temporal.db)');
  const temporal = await startDevServer({ dbFile: path.join(dataDir, 'temporal.db'), port: Number(tPort), uiPort, ui: true });
  void tHost;
  const sim = spawnSim(config.simPort, path.join(dataDir, 'sim'));
  const simUrl = await sim.url;

  const log = createLogger({ level: config.logLevel, name: 'vmflow-dev' });
  const workerMetrics = await serveWorkerMetrics(config, log);
  const services = await openServices(config);
  const client = await connect({ temporalAddress: temporal.address, namespace: config.namespace, registry: services.registry });
  const connection = await connectTemporalWorker({ temporalAddress: temporal.address });
  const worker = await createWorker({ connection, client: client.temporal, namespace: config.namespace, services, concurrency: config.workerConcurrency, claimTtlSeconds: config.claimTtlSeconds });
  const running = worker.run();
  await ensureSchedules(client.temporal, config);

  const simAdmin = new SimAdmin(simUrl);
  const known = new Set((await simAdmin.hosts()).map((h) => h.id));
  for (const h of DEV_HOSTS) {
    if (!known.has(h.id)) await simAdmin.addHost(h);
    if (!(await services.registry.findByName(h.id))) {
      await client.hypervisors.add(h.id, {
        driver: 'sim',
        address: `${simUrl}/hosts/${h.id}`,
        capacity: { cpus: h.cpus, memoryMiB: h.memoryMiB, diskGiB: h.diskGiB },
      });
    }
  }

  const tokens = await TokenStore.open(config.registryUrl, registryTls(config));
  const admin = await ensureAdminToken(tokens, config.apiTokenFile);
  const dashboard = await dashboardSource();
  if ('unavailable' in dashboard) log.warn({ reason: dashboard.unavailable }, 'the dashboard is not available');
  const api = await buildApi({ client, auth: tokens, config: { ...config, webUiUrl: temporal.uiUrl ?? config.webUiUrl }, logger: log, dashboard });
  const apiUrl = await api.listen({ host: config.apiHost, port: config.apiPort });

  console.log(
    [
      '',
      'vmflow is running on the embedded default:',
      `  Temporal      ${temporal.address}`,
      `  Web UI        ${temporal.uiUrl}   (commands: filter by VmflowContainer, VmflowHypervisor, VmflowCommand)`,
      `  registry      ${config.registryUrl}`,
      `  sim farm      ${simUrl}   (${DEV_HOSTS.map((h) => h.id).join(', ')})`,
      `  API           ${apiUrl}   (OpenAPI: ${apiUrl}/openapi.json, metrics: ${apiUrl}/metrics)`,
      `  dashboard     ${'dir' in dashboard ? `${apiUrl}/   (log in with the admin token)` : `not available: ${dashboard.unavailable}`}`,
      `  admin token   ${config.apiTokenFile}${admin.created ? ' (created now)' : ''}   curl -H "Authorization: Bearer $(cat ${config.apiTokenFile})" ${apiUrl}/v1/containers`,
      ...(workerMetrics ? [`  worker metrics ${workerMetrics.url}`] : []),
      '',
      'Try:  npx vmflow containers create web1 --kind web --cpus 1 --memory 1024 --disk 10 --wait',
      'Ctrl-C stops everything.',
    ].join('\n'),
  );

  await Promise.race([untilStopped(), running]);
  console.log('vmflow: stopping');
  await api.close();
  await tokens.close();
  try {
    worker.shutdown();
  } catch {
    // The Temporal runtime began shutting the worker down on the same signal.
  }
  await running.catch(() => undefined);
  await client.close();
  await connection.close();
  await services.close();
  sim.child.kill('SIGTERM');
  await temporal.stop();
  await workerMetrics?.close();
}
