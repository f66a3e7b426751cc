// Shared vocabulary of vmflow. Pure types and constants: importable by workflow code.

export const NODE_TYPES = ['hypervisor', 'container', 'placeholder', 'environment'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export type JsonObject = { [key: string]: unknown };

/** A registry record, as every layer above the registry sees it. Times are ISO 8601 UTC. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface NodeRecord<D extends object = Record<string, any>> {
  readonly id: string;
  readonly type: NodeType;
  readonly name: string;
  readonly definition: D;
  readonly state: string;
  readonly metadata: JsonObject;
  readonly tags: Record<string, string>;
  readonly parentId: string | null;
  /** Unique keys owned by this node, sorted; includes `name:<name>`. */
  readonly keys: string[];
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Amounts of the three resources a host offers and a container needs. */
export interface Resources {
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
}

export interface Overcommit {
  readonly cpu: number;
  readonly memory: number;
  readonly disk: number;
}

export const DRIVER_NAMES = ['sim', 'libvirt'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

export interface HypervisorDefinition {
  readonly driver: DriverName;
  /** Where the driver reaches the host: `http://127.0.0.1:7070/hosts/hv-1` for sim, a libvirt URI for libvirt. */
  readonly address: string;
  readonly capacity: Resources;
  /** Claims may reach capacity times this ratio. Defaults to 1 for each resource. */
  readonly overcommit?: Overcommit;
  /** Set when an agent on the host runs its driver: activities for this host go to this task queue. */
  readonly agentQueue?: string;
  /** Labels a container may require (`zone: a`). */
  readonly labels?: Record<string, string>;
  /** Extra driver settings (storage pool path, base image folder, ...). */
  readonly options?: Record<string, string>;
  /** How to power the host off out of band before its containers are rebuilt elsewhere. */
  readonly fence?: FenceDevice;
}

/** A fence agent installed on the worker (`fence_ipmilan`) and its arguments (`--ip=...`, `--action=off`). */
export interface FenceDevice {
  readonly agent: string;
  readonly args?: string[];
  readonly timeoutSeconds?: number;
}

export interface NetworkDefinition {
  readonly ip: string;
  readonly mac: string;
  readonly bridge?: string;
}

export interface ContainerDefinition {
  readonly kind: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
  readonly network: NetworkDefinition;
  /** Base image the disk is provisioned from. */
  readonly image?: string;
  /** Labels a host must carry to receive this container. */
  readonly requires?: Record<string, string>;
  /**
   * High availability: `restart` rebuilds it on another host when its host goes down; `none`
   * leaves it `lost`. Default: its kind's policy.
   */
  readonly ha?: HaPolicy;
  /** Order of failover (lowest first). Default: its kind's priority. */
  readonly haPriority?: number;
  /**
   * Most failovers within `haRestartWindowMinutes`; past it the container is left `lost` (a
   * container that takes every host it lands on down is not chased round the cluster).
   */
  readonly haMaxRestarts?: number;
  readonly haRestartWindowMinutes?: number;
}

/** Failovers allowed per window when the definition does not say. */
export const HA_DEFAULT_MAX_RESTARTS = 3;
export const HA_DEFAULT_RESTART_WINDOW_MINUTES = 60;

export const HA_POLICIES = ['restart', 'none'] as const;
export type HaPolicy = (typeof HA_POLICIES)[number];

export interface PlaceholderDefinition {
  readonly resources: Resources;
  readonly commandId: string;
  /** The container the capacity is held for (its id), when it already exists. */
  readonly containerId?: string;
  readonly containerName: string;
  readonly expiresAt: string;
  /** Group names the claim counts toward, as the container's `vmflow.groups` metadata does. */
  readonly groups?: readonly string[];
}

export interface EnvironmentDefinition {
  readonly description?: string;
  readonly antiAffinity?: boolean;
}

export const HYPERVISOR_STATES = ['up', 'down', 'draining'] as const;
export type HypervisorState = (typeof HYPERVISOR_STATES)[number];

/**
 * Container lifecycle. `new`: in the registry, not yet on a host. `lost`: its host stopped answering.
 * `illegal`: a stale copy the collector must remove. `missing`: its host answers but has no such VM.
 * `unknown`: a command could not finish undoing itself, so where the VM is (if anywhere) is not
 * verified; only `reconcile` and `destroy` apply until the monitor settles it from the hosts' own
 * state. A destroyed container leaves the registry.
 */
export const CONTAINER_STATES = ['new', 'stopped', 'running', 'suspended', 'lost', 'illegal', 'missing', 'unknown'] as const;
export type ContainerState = (typeof CONTAINER_STATES)[number];

export const PLACEHOLDER_STATE = 'held';
export const ENVIRONMENT_STATE = 'active';

/** Metadata keys vmflow writes; every one starts with `vmflow.`. */
export const META = {
  observedState: 'vmflow.observedState',
  lastContact: 'vmflow.lastContact',
  failuresInRow: 'vmflow.failuresInRow',
  load: 'vmflow.load',
  free: 'vmflow.free',
  lastCommand: 'vmflow.lastCommand',
  stateCause: 'vmflow.stateCause',
  lastError: 'vmflow.lastError',
  /** VMs a host reports that no container owns: name → first seen (ISO). */
  orphans: 'vmflow.orphans',
  /** The workflow that made a container or placeholder, so the collector can tell if it still runs. */
  workflowId: 'vmflow.workflowId',
  /** Anti-affinity/affinity groups of a container: `env:<id>`, `group:<name>`. */
  groups: 'vmflow.groups',
  environment: 'vmflow.environment',
  /** An environment's members: container id, kind, priority. */
  members: 'vmflow.members',
  /** The container that replaced an illegal one (its live copy). */
  replacedBy: 'vmflow.replacedBy',
  /** The state a container had when its host went down, so a failover rebuilds it as it was. */
  stateBeforeLost: 'vmflow.stateBeforeLost',
  /** VMs on a host whose registry owner lives elsewhere: name → confirmations that the owner's copy is alive. */
  staleCopies: 'vmflow.staleCopies',
  /** On a placeholder claimed with others (an environment's members): why it went where it did, for its container's history. */
  placement: 'vmflow.placement',
} as const;

export function resourcesOf(def: Pick<ContainerDefinition, 'cpus' | 'memoryMiB' | 'diskGiB'>): Resources {
  return { cpus: def.cpus, memoryMiB: def.memoryMiB, diskGiB: def.diskGiB };
}

export const NO_OVERCOMMIT: Overcommit = { cpu: 1, memory: 1, disk: 1 };

/** What a host may hold in total: capacity times overcommit. */
export function allowance(def: Pick<HypervisorDefinition, 'capacity' | 'overcommit'>): Resources {
  const o = def.overcommit ?? NO_OVERCOMMIT;
  return {
    cpus: def.capacity.cpus * o.cpu,
    memoryMiB: def.capacity.memoryMiB * o.memory,
    diskGiB: def.capacity.diskGiB * o.disk,
  };
}

export function addResources(a: Resources, b: Resources): Resources {
  return { cpus: a.cpus + b.cpus, memoryMiB: a.memoryMiB + b.memoryMiB, diskGiB: a.diskGiB + b.diskGiB };
}

export const ZERO: Resources = { cpus: 0, memoryMiB: 0, diskGiB: 0 };

/** Unique-key helpers: one spelling everywhere. */
export const keyOf = {
  name: (n: string) => `name:${n}`,
  ip: (ip: string) => `ip:${ip}`,
  mac: (mac: string) => `mac:${mac.toLowerCase()}`,
  claim: (commandId: string) => `claim:${commandId}`,
  volume: (v: string) => `volume:${v}`,
};
