// The real stack for integration tests: a Temporal dev server, a sim farm process, a SQLite
// registry file and workers — in this process or as separate processes that tests may kill.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { connect, type Vmflow } from '../../src/client';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import type { Kinds } from '../../src/hooks';
import { Provisioner } from '../../src/provisioner';
import { createWorker, openServices, type Services } from '../../src/worker';
import { RegistryFaults } from './faults';
import { startSim } from './sim';

export type SimHandle = Awaited<ReturnType<typeof startSim>>;

export interface HostSpec {
  readonly name: string;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly diskGiB?: number;
  readonly labels?: Record<string, string>;
}

export interface StackOptions {
  readonly hosts?: readonly HostSpec[];
  /** Run the worker as a separate OS process (so a test can SIGKILL it). */
  readonly workerProcess?: boolean;
  readonly registryUrl?: string;
  /** Extra container kinds for the in-process worker. */
  readonly kinds?: Kinds;
  /** Placeholder time to live for the in-process worker. */
  readonly claimTtlSeconds?: number;
  /** Route the in-process worker's registry through `faults` (default true; benchmarks turn it off). */
  readonly faultInjection?: boolean;
  readonly ipPool?: string;
}

export interface Stack {
  readonly temporal: DevServer;
  readonly sim: SimHandle;
  readonly client: Vmflow;
  readonly services: Services;
  readonly registryUrl: string;
  readonly dir: string;
  /** Faults injected into the registry of the in-process worker's activities. */
  readonly faults: RegistryFaults;
  /** Registers sim hosts (created on the sim and added through the addHypervisor workflow). */
  addHosts(hosts: readonly HostSpec[]): Promise<void>;
  startWorker(): Promise<void>;
  /** Kills the worker: SIGKILL for a worker process, shutdown for an in-process one. */
  killWorker(): Promise<void>;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, '..', '..');

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-stack-'));
  const registryUrl = options.registryUrl ?? `sqlite:${path.join(dir, 'registry.sqlite')}`;
  const started = await Promise.allSettled([startDevServer(), startSim()]);
  if (started.some((r) => r.status === 'rejected')) {
    // Stop what did start, or its process keeps the test file from ever ending.
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw (started.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
  }
  const [temporal, sim] = started.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [DevServer, SimHandle];
  const ipPool = options.ipPool ?? '10.0.0.0/16';
  const services = await openServices({ registryUrl, ipPool });
  const client = await connect({ temporalAddress: temporal.address, registry: services.registry, ...(options.kinds ? { kinds: options.kinds } : {}) });

  const faults = new RegistryFaults();
  const workerServices: Services =
    options.faultInjection === false ? services : { ...services, registry: faults.wrap(services.registry), provisioner: new Provisioner(faults.wrap(services.registry), { ipPool }) };
  let inProcess: { worker: Worker; run: Promise<void>; connection: NativeConnection } | undefined;
  let child: ChildProcess | undefined;

  async function startWorker(): Promise<void> {
    if (options.workerProcess) {
      child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), 'worker'], {
        cwd: ROOT,
        env: {
          // Tests run monitor and collector cycles themselves; the schedules a worker ensures stay out of their way unless a test sets them.
          VMFLOW_MONITOR_INTERVAL: '3600',
          VMFLOW_COLLECTOR_INTERVAL: '3600',
          ...process.env,
          VMFLOW_TEMPORAL_ADDRESS: temporal.address,
          VMFLOW_REGISTRY_URL: registryUrl,
          VMFLOW_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      return;
    }
    const connection = await NativeConnection.connect({ address: temporal.address });
    const worker = await createWorker({ connection, client: client.temporal, namespace: 'default', services: workerServices, kinds: options.kinds, claimTtlSeconds: options.claimTtlSeconds });
    inProcess = { worker, connection, run: worker.run() };
  }

  async function killWorker(): Promise<void> {
    if (child) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      child = undefined;
    }
    if (inProcess) {
      inProcess.worker.shutdown();
      await inProcess.run.catch(() => undefined);
      await inProcess.connection.close();
      inProcess = undefined;
    }
  }

  async function addHosts(hosts: readonly HostSpec[]): Promise<void> {
    for (const h of hosts) {
      const capacity = { cpus: h.cpus ?? 8, memoryMiB: h.memoryMiB ?? 16384, diskGiB: h.diskGiB ?? 500 };
      await sim.admin.addHost({ id: h.name, ...capacity });
      await client.hypervisors.add(h.name, { driver: 'sim', address: sim.hostAddress(h.name), capacity, ...(h.labels ? { labels: h.labels } : {}) });
    }
  }

  await startWorker();
  const stack: Stack = {
    temporal,
    sim,
    client,
    services,
    registryUrl,
    dir,
    faults,
    addHosts,
    startWorker,
    killWorker,
    async stop() {
      await killWorker();
      await client.close();
      await services.close();
      await Promise.all([temporal.stop(), sim.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (options.hosts?.length) await addHosts(options.hosts);
  return stack;
}
