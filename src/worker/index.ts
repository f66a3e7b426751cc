// The worker: runs every workflow and the central activities against one registry and the drivers.
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { createActivities } from '../../activities';
import { typedFailures } from '../../activities/interceptors';
import { Kinds } from '../hooks';
import type { Config } from '../config';
import { TASK_QUEUE } from '../domain/names';
import { DriverSet } from '../drivers/driver';
import { SimDriver } from '../drivers/sim';
import { LibvirtDriver } from '../drivers/libvirt';
import { DEFAULT_FENCE_AGENT_DIR, FenceAgents } from '../drivers/fence-agents';
import { Provisioner } from '../provisioner';
import { openRegistry } from '../registry';
import type { Registry } from '../registry/types';
import { registryOptions, type RegistrySettings } from '../temporal/connection';
import { workflowBundle } from './bundle';
import { workerMetrics } from '../metrics/worker-metrics';

export interface Services {
  readonly registry: Registry;
  readonly provisioner: Provisioner;
  readonly drivers: DriverSet;
  readonly fencing?: FenceAgents;
  close(): Promise<void>;
}

/** Opens what activities need: the registry (migrated), the provisioner and every driver. */
export async function openServices(config: RegistrySettings & Pick<Config, 'ipPool'> & Partial<Pick<Config, 'fenceAgentDir'>>): Promise<Services> {
  const registry = await openRegistry(registryOptions(config));
  const drivers = new DriverSet([new SimDriver(), new LibvirtDriver()]);
  return {
    registry,
    provisioner: new Provisioner(registry, { ipPool: config.ipPool }),
    drivers,
    fencing: new FenceAgents(config.fenceAgentDir ?? DEFAULT_FENCE_AGENT_DIR),
    async close() {
      await drivers.close();
      await registry.close();
    },
  };
}

export interface WorkerSettings {
  readonly connection: NativeConnection;
  /** Client side of the same server, for activities that submit commands. */
  readonly client: Client;
  readonly namespace: string;
  readonly services: Services;
  readonly kinds?: Kinds;
  /** Placeholder time to live; the workflows' default when unset. */
  readonly claimTtlSeconds?: number;
  readonly taskQueue?: string;
  readonly concurrency?: number;
  /** Workflow tasks at once (default WORKFLOW_TASK_SLOTS). */
  readonly workflowTaskConcurrency?: number;
  /**
   * Seconds a stopping worker lets its running activities finish before cancelling them: a deploy
   * does not cut a live migration mid-way. Default 0 (cancel at once), what in-process tests want.
   */
  readonly shutdownGraceSeconds?: number;
  readonly extra?: Partial<WorkerOptions>;
}

/**
 * Workflow tasks one worker runs at once. A command's workflow task stays open while its registry
 * calls (local activities) run, and those take turns on the registry's connections (SQLite has
 * one): with many tasks open at once, each lasts as long as the whole burst's registry work, past
 * the workflow task timeout, and Temporal hands it out again, so its local activities run a
 * second time. More tasks at once would not make the registry faster; the rest wait in the queue.
 */
export const WORKFLOW_TASK_SLOTS = 10;

/** Past the grace time, how long cancelled activities get to report before the worker gives up on them. */
const SHUTDOWN_FORCE_MARGIN_SECONDS = 20;

export async function createWorker(s: WorkerSettings): Promise<Worker> {
  const concurrency = s.concurrency ?? 100;
  return Worker.create({
    connection: s.connection,
    namespace: s.namespace,
    taskQueue: s.taskQueue ?? TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ ...s.services, kinds: s.kinds ?? new Kinds(), temporal: s.client, claimTtlSeconds: s.claimTtlSeconds }),
    interceptors: { activity: [typedFailures] },
    sinks: workerMetrics.sinks(),
    maxConcurrentActivityTaskExecutions: concurrency,
    maxConcurrentWorkflowTaskExecutions: s.workflowTaskConcurrency ?? WORKFLOW_TASK_SLOTS,
    maxCachedWorkflows: 2000,
    // Cancellation reaches a driver call on its next heartbeat: keep that prompt.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    ...(s.shutdownGraceSeconds
      ? { shutdownGraceTime: s.shutdownGraceSeconds * 1000, shutdownForceTime: (s.shutdownGraceSeconds + SHUTDOWN_FORCE_MARGIN_SECONDS) * 1000 }
      : {}),
    ...s.extra,
  });
}
