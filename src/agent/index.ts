// Agent mode: a worker on one hypervisor host. It polls that host's own task queue
// (`agentQueue(host)`) and runs only the driver activities, with the drivers loaded here, so the
// controller never needs a route to the host's libvirt daemon. No workflows, no registry: driver
// activities take the host and container as values (HostRef, ContainerSpec).
//
// A host registered with `definition.agentQueue = agentQueue(name)` has its driver activities sent
// here by the workflows (workflows/command-runtime.ts, hostActivities). When no agent polls, an activity fails
// after its schedule-to-start timeout instead of waiting forever; when an agent dies mid-call, its
// heartbeats stop and the call is retried on the next agent that polls the queue.
import { hostname } from 'node:os';
import { Worker } from '@temporalio/worker';
import { createHostActivities } from '../../activities/hosts';
import { typedFailures } from '../../activities/interceptors';
import { agentQueue } from '../domain/names';
import { DriverSet } from '../drivers/driver';
import { LibvirtDriver } from '../drivers/libvirt';
import { SimDriver } from '../drivers/sim';
import { connectTemporalWorker, type TemporalSettings } from '../temporal/connection';

/** Where Temporal is (with TLS and API key as the configuration names them) and which host this agent serves. */
export interface AgentOptions extends TemporalSettings {
  readonly namespace: string;
  /** The hypervisor's name in the registry: the agent polls `agentQueue(host)`. */
  readonly host: string;
  /** Drivers to run activities with. Default: libvirt (and sim, which is harmless). The caller closes what it passes. */
  readonly drivers?: DriverSet;
  /** Driver calls at once. Default 20: a host runs few long operations at a time. */
  readonly concurrency?: number;
  /** Shown in the Web UI as the worker that ran each activity. Default `vmflow-agent/<host>@<machine>:<pid>`. */
  readonly identity?: string;
  /** Seconds a stopping agent lets its running driver calls (a live migration) finish. Default 0: cancel them at once. */
  readonly shutdownGraceSeconds?: number;
}

export interface Agent {
  readonly worker: Worker;
  /** The task queue it polls. */
  readonly taskQueue: string;
  /** Settles when the worker stops: after shutdown(), or with the error that stopped it. */
  readonly run: Promise<void>;
  /** Stops polling, lets running activities finish (or be cancelled), closes the connection. Idempotent. */
  shutdown(): Promise<void>;
}

/** The drivers an agent loads when none are passed. */
export function defaultAgentDrivers(): DriverSet {
  return new DriverSet([new LibvirtDriver(), new SimDriver()]);
}

/** Starts an agent for one host and returns once its worker polls. */
export async function runAgent(options: AgentOptions): Promise<Agent> {
  if (!options.host) throw new Error('runAgent: host (the hypervisor name) is required');
  const taskQueue = agentQueue(options.host);
  const ownDrivers = options.drivers ? undefined : defaultAgentDrivers();
  const drivers = options.drivers ?? ownDrivers!;
  const connection = await connectTemporalWorker(options);
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: options.namespace,
      taskQueue,
      identity: options.identity ?? `vmflow-agent/${options.host}@${hostname()}:${process.pid}`,
      // Activities only: no workflow bundle is loaded, so the agent starts in about a second.
      activities: createHostActivities(drivers),
      interceptors: { activity: [typedFailures] },
      maxConcurrentActivityTaskExecutions: options.concurrency ?? 20,
      // Heartbeats carry cancellation and liveness: keep them prompt, as the central worker does.
      maxHeartbeatThrottleInterval: '1 second',
      defaultHeartbeatThrottleInterval: '1 second',
      ...(options.shutdownGraceSeconds ? { shutdownGraceTime: options.shutdownGraceSeconds * 1000, shutdownForceTime: (options.shutdownGraceSeconds + 20) * 1000 } : {}),
    });
  } catch (err) {
    await connection.close();
    await ownDrivers?.close();
    throw err;
  }
  const run = worker.run();
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      await run.catch(() => undefined);
      await connection.close().catch(() => undefined);
      await ownDrivers?.close();
    })());
  // A worker that stops on its own (fatal error) still releases its connection.
  void run.then(close, close);
  return {
    worker,
    taskQueue,
    run,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await close();
    },
  };
}

/** Resolves with the signal's name on SIGINT or SIGTERM. */
function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/**
 * `vmflow agent --host <name>`: runs an agent until SIGINT or SIGTERM, then drains it. Prints one
 * JSON line on stdout once it polls (`{"agent":"hv-1","taskQueue":"vmflow-agent-hv-1"}`), which
 * supervisors and tests wait for. Rejects when the worker fails.
 */
export async function runAgentProcess(options: AgentOptions): Promise<void> {
  const agent = await runAgent(options);
  console.log(JSON.stringify({ agent: options.host, taskQueue: agent.taskQueue, pid: process.pid }));
  // A fatal worker error ends the race too, and is rethrown below.
  await Promise.race([agent.run, untilStopped()]);
  await agent.shutdown();
  await agent.run;
}
