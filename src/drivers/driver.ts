// The one interface between the cluster controller and a kind of hypervisor.
import type { ContainerDefinition, HypervisorDefinition, Resources } from '../domain/types';

/** The host an operation targets, as its registry node describes it. */
export interface HostRef {
  readonly id: string;
  readonly name: string;
  readonly definition: HypervisorDefinition;
}

/** What a driver needs to build a container: its registry identity and definition. */
export interface ContainerSpec {
  readonly id: string;
  readonly name: string;
  readonly definition: ContainerDefinition;
}

/** States a host reports for a container. `migrating` only during a live migration's copy. */
export type ObservedState = 'defined' | 'stopped' | 'running' | 'suspended' | 'migrating' | 'crashed';

export interface ObservedContainer {
  readonly name: string;
  /** The registry id the host knows the VM by (libvirt's domain uuid), when it has one. */
  readonly uuid?: string;
  readonly state: ObservedState;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
  readonly mac?: string;
  /** Whether a disk has been provisioned for it. */
  readonly provisioned: boolean;
}

export interface HostStatus {
  readonly reachable: true;
  readonly capacity: Resources;
  readonly free: Resources;
  /** 1-minute load average or the simulated equivalent. */
  readonly load: number;
  readonly containers: readonly ObservedContainer[];
}

export interface Progress {
  readonly step: string;
  /** 0..1 */
  readonly fraction?: number;
}

/** Passed to every call: reports progress (activities turn it into heartbeats) and carries cancellation. */
export interface DriverContext {
  readonly progress: (p: Progress) => void;
  readonly signal?: AbortSignal;
}

export const NO_CONTEXT: DriverContext = { progress: () => undefined };

export interface MigrateOptions {
  /** Live when the container runs and both ends allow it; cold otherwise. */
  readonly live: boolean;
}

/**
 * Operations on one kind of hypervisor. Calls behave like the real host: starting a running
 * container is an error, not a no-op. Idempotency is the caller's business (it checks status first).
 * Errors are DriverError (the host refused) or HostUnreachableError (it did not answer).
 */
export interface Driver {
  readonly name: string;
  hostStatus(host: HostRef, ctx?: DriverContext): Promise<HostStatus>;
  /** The container's state on the host, or undefined when the host does not know it. */
  containerStatus(host: HostRef, name: string, ctx?: DriverContext): Promise<ObservedContainer | undefined>;
  define(host: HostRef, spec: ContainerSpec, ctx?: DriverContext): Promise<void>;
  undefine(host: HostRef, name: string, ctx?: DriverContext): Promise<void>;
  /** Creates the container's disk from its image. */
  provision(host: HostRef, spec: ContainerSpec, ctx?: DriverContext): Promise<void>;
  /** Wipes and removes the container's disk. */
  deprovision(host: HostRef, name: string, ctx?: DriverContext): Promise<void>;
  start(host: HostRef, name: string, ctx?: DriverContext): Promise<void>;
  /** Hard stop. */
  stop(host: HostRef, name: string, ctx?: DriverContext): Promise<void>;
  /** Graceful shutdown; falls back to a hard stop after `timeoutMs`. */
  shutdown(host: HostRef, name: string, timeoutMs: number, ctx?: DriverContext): Promise<void>;
  reboot(host: HostRef, name: string, ctx?: DriverContext): Promise<void>;
  suspend(host: HostRef, name: string, ctx?: DriverContext): Promise<void>;
  resume(host: HostRef, name: string, ctx?: DriverContext): Promise<void>;
  /** Copies a stopped container (disk included) to a new, defined, stopped container on `target`. */
  clone(source: HostRef, sourceName: string, target: HostRef, spec: ContainerSpec, ctx?: DriverContext): Promise<void>;
  /**
   * Moves a container to `target`. Live: it keeps running and exists on both hosts until the
   * switch-over. Cold: it must be stopped; its definition and disk move.
   */
  migrate(source: HostRef, target: HostRef, spec: ContainerSpec, options: MigrateOptions, ctx?: DriverContext): Promise<void>;
  /** Writes a configuration file inside the container (a balancer's upstream list). */
  applyConfig(host: HostRef, name: string, path: string, content: string, ctx?: DriverContext): Promise<void>;
  /** A configuration file's content, or undefined when the container has no file at `path`. */
  readConfig(host: HostRef, name: string, path: string, ctx?: DriverContext): Promise<string | undefined>;
  /** The paths of the configuration files written into the container, sorted: what it exposes to readConfig. */
  listConfig(host: HostRef, name: string, ctx?: DriverContext): Promise<string[]>;
  /**
   * Powers the host off out of band (its BMC), so nothing it runs can keep running: what makes a
   * failover safe while the host is unreachable. Absent when the driver has no fencing device.
   */
  fence?(host: HostRef, ctx?: DriverContext): Promise<void>;
  close?(): Promise<void>;
}

/** Finds the driver a host's definition names. */
export interface DriverRegistry {
  forHost(host: HostRef): Driver;
}

export class DriverSet implements DriverRegistry {
  private readonly drivers = new Map<string, Driver>();
  constructor(drivers: readonly Driver[]) {
    for (const d of drivers) this.drivers.set(d.name, d);
  }
  forHost(host: HostRef): Driver {
    const d = this.drivers.get(host.definition.driver);
    if (!d) throw new Error(`no driver ${host.definition.driver} is loaded for host ${host.name}`);
    return d;
  }
  async close(): Promise<void> {
    for (const d of this.drivers.values()) await d.close?.();
  }
}
