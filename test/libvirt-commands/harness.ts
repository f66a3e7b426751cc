// vmflow's commands against real libvirt daemons: a stack from startStack() (Temporal dev server,
// SQLite registry; its sim is unused) whose worker drives libvirt hosts registered through
// client.hypervisors.add, and checks that read the hosts through virsh and the storage folders,
// never through the driver or the registry under test.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import type { ContainerDefinition, HypervisorDefinition, NodeRecord, Resources } from '../../src/domain/types';
import { keyOf } from '../../src/domain/types';
import { DriverSet } from '../../src/drivers/driver';
import { LibvirtDriver, type LibvirtDriverOptions } from '../../src/drivers/libvirt';
import type { FenceAgents } from '../../src/drivers/fence-agents';
import { SimDriver } from '../../src/drivers/sim';
import { createWorker } from '../../src/worker';
import { startLibvirt, virsh, type LibvirtTestHost } from '../support/libvirt';
import { startStack, type Stack } from '../support/stack';

/** A tiny guest: 1 vcpu, 64 MiB, 1 GiB overlay of the test base image (no OS: it sits in its BIOS). */
export const tiny = { kind: 'generic', cpus: 1, memoryMiB: 64, diskGiB: 1, image: 'base.qcow2' } as const;

export const DEFAULT_CAPACITY: Resources = { cpus: 4, memoryMiB: 4096, diskGiB: 20 };

export interface HostPlan {
  readonly name: string;
  readonly capacity?: Resources;
  /** Register it with `agentQueue`; its driver activities then wait for an agent. */
  readonly agentQueue?: string;
  /** Leave it unregistered (the test registers it once its agent runs). */
  readonly register?: boolean;
}

export interface LibvirtStack {
  readonly stack: Stack;
  readonly hosts: ReadonlyMap<string, LibvirtTestHost>;
  host(name: string): LibvirtTestHost;
  register(plan: HostPlan): Promise<NodeRecord<HypervisorDefinition>>;
  stop(): Promise<void>;
}

/** The definition a test libvirt host is registered with. */
export function libvirtDefinition(h: LibvirtTestHost, plan: Pick<HostPlan, 'capacity' | 'agentQueue'> = {}): HypervisorDefinition {
  return {
    driver: 'libvirt',
    address: h.uri,
    capacity: plan.capacity ?? DEFAULT_CAPACITY,
    ...(plan.agentQueue ? { agentQueue: plan.agentQueue } : {}),
    options: { storagePath: h.storagePath, imagePath: h.imagePath },
  };
}

/**
 * Starts libvirt daemons and a stack, and registers the hosts. Undefined when libvirt cannot run
 * here (the tests skip; under CI=true startLibvirt throws instead).
 *
 * The stack's worker is replaced by one whose libvirt driver gives a guest 1.5 s (not 30 s) to
 * act on an ACPI reboot: the test guests have no OS and never do.
 */
export async function startLibvirtStack(
  plans: readonly HostPlan[],
  driverOptions: LibvirtDriverOptions = { rebootAckMs: 1500, pollMs: 100 },
  extra: { fencing?: FenceAgents; definition?: (h: LibvirtTestHost) => Partial<HypervisorDefinition> } = {},
): Promise<LibvirtStack | undefined> {
  const started = await Promise.allSettled(plans.map((p) => startLibvirt({ name: p.name })));
  const hosts = new Map<string, LibvirtTestHost>();
  started.forEach((r, i) => r.status === 'fulfilled' && r.value && hosts.set(plans[i]!.name, r.value));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed || hosts.size < plans.length) {
    await Promise.all([...hosts.values()].map((h) => h.stop()));
    if (failed) throw failed.reason;
    return undefined;
  }
  let stack: Stack | undefined;
  let worker: { worker: Worker; run: Promise<void>; connection: NativeConnection } | undefined;
  const stop = async () => {
    if (worker) {
      worker.worker.shutdown();
      await worker.run.catch(() => undefined);
      await worker.connection.close();
      worker = undefined;
    }
    await stack?.stop();
    await Promise.all([...hosts.values()].map((h) => h.stop()));
  };
  try {
    stack = await startStack();
    await stack.killWorker();
    const drivers = new DriverSet([new SimDriver(), new LibvirtDriver(driverOptions)]);
    const connection = await NativeConnection.connect({ address: stack.temporal.address });
    const w = await createWorker({ connection, client: stack.client.temporal, namespace: 'default', services: { ...stack.services, drivers, ...(extra.fencing ? { fencing: extra.fencing } : {}) } });
    worker = { worker: w, connection, run: w.run() };
    const s = stack;
    const register = async (plan: HostPlan) => {
      const h = hosts.get(plan.name);
      if (!h) throw new Error(`no libvirt test host ${plan.name}`);
      return s.client.hypervisors.add(plan.name, { ...libvirtDefinition(h, plan), ...extra.definition?.(h) });
    };
    for (const p of plans) {
      if (p.register === false) continue;
      const node = await register(p);
      assert.equal(node.state, 'up', `${p.name} answered its probe: ${JSON.stringify(node.metadata)}`);
    }
    return {
      stack: s,
      hosts,
      host: (name) => {
        const h = hosts.get(name);
        if (!h) throw new Error(`no libvirt test host ${name}`);
        return h;
      },
      register,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---- independent checks ---------------------------------------------------------------------------

/** Every domain the daemon knows, running or not (`virsh list --all --name`), sorted. */
export async function domains(uri: string): Promise<string[]> {
  const r = await virsh(uri, 'list', '--all', '--name');
  if (r.code !== 0) throw new Error(`virsh list: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();
}

/** What is in a host's storage folder: disks (`<name>.qcow2`, and any temporary copies) and config folders. */
export function storageEntries(h: LibvirtTestHost): string[] {
  return readdirSync(h.storagePath).sort();
}

/** The states `virsh domstate` reports for each registry state. */
const VIRSH_STATE: Record<string, string> = { running: 'running', suspended: 'paused', stopped: 'shut off' };

/**
 * Registry and hosts agree: each host's daemon knows exactly the containers the registry puts on
 * it, each in the registry's state, each with the registry's uuid and MAC; its storage folder
 * holds exactly their disks; no placeholder is left; every container owns its name, ip and mac.
 */
export async function assertHostsMatchRegistry(ls: LibvirtStack): Promise<NodeRecord<ContainerDefinition>[]> {
  const r = ls.stack.services.registry;
  const [containers, placeholders, registered] = await Promise.all([
    r.list({ type: 'container' }) as Promise<NodeRecord<ContainerDefinition>[]>,
    r.list({ type: 'placeholder' }),
    r.list({ type: 'hypervisor' }),
  ]);
  assert.deepEqual(placeholders.map((p) => p.name), [], 'no placeholder outlives its command');
  for (const [name, h] of ls.hosts) {
    if (!h.alive()) continue;
    const node = registered.find((n) => n.name === name);
    const here = node ? containers.filter((c) => c.parentId === node.id) : [];
    assert.deepEqual(await domains(h.uri), here.map((c) => c.name).sort(), `domains on ${name} are the registry's containers there`);
    assert.deepEqual(
      storageEntries(h).filter((f) => !f.endsWith('.config')),
      here.map((c) => `${c.name}.qcow2`).sort(),
      `disks in ${name}'s storage folder are its containers'`,
    );
    for (const c of here) {
      const st = await virsh(h.uri, 'domstate', `--domain=${c.name}`);
      assert.equal(st.stdout.trim(), VIRSH_STATE[c.state] ?? `(registry state ${c.state})`, `${c.name} on ${name}`);
      const xml = (await virsh(h.uri, 'dumpxml', `--domain=${c.name}`)).stdout;
      assert.ok(xml.includes(`<uuid>${c.id}</uuid>`), `${c.name}'s domain carries its registry id`);
      assert.ok(xml.includes(`<mac address='${c.definition.network.mac}'/>`), `${c.name}'s domain has its registry MAC`);
    }
  }
  for (const c of containers) {
    for (const key of [keyOf.name(c.name), keyOf.ip(c.definition.network.ip), keyOf.mac(c.definition.network.mac)]) {
      assert.equal((await r.findByKey(key))?.id, c.id, `${key} is owned by ${c.name}`);
    }
  }
  return containers;
}

/** A command workflow's history events, for checks of where its activities ran. */
export type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

export async function historyOf(ls: LibvirtStack, workflowId: string): Promise<HistoryEvent[]> {
  const history = await ls.stack.client.temporal.workflow.getHandle(workflowId).fetchHistory();
  return [...(history.events ?? [])];
}

/** One activity of a command as its history records it. */
export interface ActivityRun {
  readonly type: string;
  readonly taskQueue: string;
  /** Schedule-to-start timeout in seconds; 0 when none was set. */
  readonly scheduleToStartSeconds: number;
  /** The worker identity that ran its last attempt, and that attempt's number, once started. */
  readonly identity?: string;
  readonly attempt?: number;
  readonly completed: boolean;
}

export function activityRuns(events: readonly HistoryEvent[]): ActivityRun[] {
  const byScheduled = new Map<string, { type: string; taskQueue: string; scheduleToStartSeconds: number; identity?: string; attempt?: number; completed: boolean }>();
  for (const e of events) {
    const id = String(e.eventId);
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      byScheduled.set(id, {
        type: scheduled.activityType?.name ?? '',
        taskQueue: scheduled.taskQueue?.name ?? '',
        scheduleToStartSeconds: Number(scheduled.scheduleToStartTimeout?.seconds ?? 0),
        completed: false,
      });
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const run = byScheduled.get(String(started.scheduledEventId));
      if (run) {
        run.identity = started.identity ?? undefined;
        run.attempt = started.attempt ?? undefined;
      }
    }
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const run = byScheduled.get(String(done.scheduledEventId));
      if (run) run.completed = true;
    }
  }
  return [...byScheduled.values()];
}
