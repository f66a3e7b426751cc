// The sim farm's wire format: what its HTTP server sends and what the sim driver and the admin
// client read. Types and constants only.
import type { ObservedState } from '../drivers/driver';
import type { Resources } from '../domain/types';

/** Operation names, as the Driver interface spells them: delays and failure rules use them. */
export const SIM_OPERATIONS = [
  'hostStatus',
  'containerStatus',
  'define',
  'undefine',
  'provision',
  'deprovision',
  'start',
  'stop',
  'shutdown',
  'reboot',
  'suspend',
  'resume',
  'clone',
  'migrate',
  'applyConfig',
  'readConfig',
  'listConfig',
] as const;
export type SimOperation = (typeof SIM_OPERATIONS)[number];

/** Operations posted to `POST /hosts/:host/vms/:name/:operation`. */
export const VM_OPERATIONS: ReadonlySet<string> = new Set(
  SIM_OPERATIONS.filter((o) => o !== 'hostStatus' && o !== 'containerStatus'),
);

/** Delay key that applies to every operation without its own delay. */
export const ANY_OPERATION = '*';

/**
 * Why a request failed. `unreachable` and `unknown_host` mean nobody answered at that address;
 * everything else is the host refusing or failing.
 */
export type SimErrorCode =
  | 'refused'
  | 'failed'
  | 'unreachable'
  | 'unknown_host'
  | 'not_found'
  | 'bad_request'
  | 'unknown_op'
  | 'cancelled'
  | 'internal';

export interface SimErrorBody {
  readonly code: SimErrorCode;
  readonly message: string;
  /** The host the error is about (a migration's target, for example). */
  readonly host?: string;
  /** The caller may retry: the same request can succeed later. */
  readonly transient?: boolean;
  /** Set when a failure rule produced it. */
  readonly rule?: string;
}

/** Reachability of a simulated host. */
export type HostPower = 'up' | 'crashed' | 'partitioned';

export interface HostInit {
  readonly id: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
  /** Load with no VM running (default 0); each running vCPU adds LOAD_PER_RUNNING_CPU. */
  readonly baseLoad?: number;
  /** This host's own delays in ms per operation (`*` = any); they win over the global ones. */
  readonly delays?: Readonly<Record<string, number>>;
}

export const LOAD_PER_RUNNING_CPU = 0.5;

/** A host as the admin API lists it. */
export interface SimHostView {
  readonly id: string;
  readonly power: HostPower;
  readonly capacity: Resources;
  readonly free: Resources;
  readonly load: number;
  readonly baseLoad: number;
  readonly vmCount: number;
  /** Delays set on this host only, in ms per operation (`*` = any). */
  readonly delays: Readonly<Record<string, number>>;
}

/** A disk on a host. Volumes exist apart from definitions, as on a real host. */
export interface SimVolumeView {
  readonly name: string;
  readonly diskGiB: number;
  readonly image?: string;
}

export interface SimHostDetail extends SimHostView {
  readonly vms: readonly SimVmView[];
  readonly volumes: readonly SimVolumeView[];
}

/** What the admin API shows of a VM: the observed container plus what only the sim knows. */
export interface SimVmView {
  readonly host: string;
  readonly name: string;
  /** The id of the spec it was defined or cloned with; kept by a migration. */
  readonly uuid?: string;
  readonly state: ObservedState;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
  readonly mac?: string;
  readonly ip?: string;
  readonly image?: string;
  readonly provisioned: boolean;
  readonly configs: Readonly<Record<string, string>>;
  /** The guest ignores graceful shutdown: it is forced off after the caller's timeout. */
  readonly ignoresShutdown: boolean;
  /** Id of the live migration this copy belongs to, while it is the target copy. */
  readonly migration?: string;
  /** Id of the operation in flight on it. */
  readonly busyWith?: string;
}

/** What `define`, `provision` and `clone` take: the container's registry identity and its resources. */
export interface SimVmSpec {
  readonly id?: string;
  readonly name: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
  readonly mac?: string;
  readonly ip?: string;
  readonly image?: string;
}

/** Bodies of `POST /hosts/:host/vms/:name/:operation`. `opId` is chosen by the caller so it can cancel early. */
export interface OperationBodies {
  define: { spec: SimVmSpec };
  undefine: Record<string, never>;
  provision: { spec: SimVmSpec };
  deprovision: Record<string, never>;
  start: Record<string, never>;
  stop: Record<string, never>;
  shutdown: { timeoutMs: number };
  reboot: Record<string, never>;
  suspend: Record<string, never>;
  resume: Record<string, never>;
  /** `target` is the target host's address or id; `spec` names the copy. */
  clone: { target: string; spec: SimVmSpec };
  migrate: { target: string; live: boolean };
  applyConfig: { path: string; content: string };
  readConfig: { path: string };
  listConfig: Record<string, never>;
}

/** The answer to an operation: at once when it has no delay, else polled at `GET /hosts/:host/ops/:id`. */
export interface SimOpView {
  readonly id: string;
  readonly host: string;
  readonly operation: string;
  readonly vm: string;
  readonly done: boolean;
  /** 0..1: elapsed share of the expected time; 1 when done. */
  readonly fraction: number;
  readonly expectedMs: number;
  readonly startedAt: string;
  readonly result?: unknown;
  readonly error?: SimErrorBody;
}

/** Answer to `DELETE /hosts/:host/ops/:id`. `cancelled` is false when the operation had already finished. */
export interface SimCancelView extends SimOpView {
  readonly cancelled: boolean;
}

/** A failure rule: matching calls fail with `message`. Unset fields match anything. */
export interface FailureRuleInit {
  readonly operation?: string;
  readonly host?: string;
  /** Only calls about this VM. */
  readonly vm?: string;
  /** Chance that a matching call fails, 0..1 (default 1), drawn from a generator seeded with `seed`. */
  readonly probability?: number;
  readonly seed?: number;
  /** Fail only this many calls, then the rule goes away (default: no limit). */
  readonly times?: number;
  readonly message?: string;
  /** `error`: the host answers with an error (default). `unreachable`: the call gets no answer. */
  readonly kind?: 'error' | 'unreachable';
  /** An `error` the caller may retry (DriverError with permanent = false). */
  readonly transient?: boolean;
}

export interface FailureRule extends FailureRuleInit {
  readonly id: string;
  /** How many calls it has failed so far. */
  readonly fired: number;
}

/** Partial update of a VM behind vmflow's back. `provisioned` creates or removes its volume. */
export interface SimVmPatch {
  readonly state?: ObservedState;
  readonly provisioned?: boolean;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly diskGiB?: number;
  readonly mac?: string;
  readonly ignoresShutdown?: boolean;
  /** Replaces the VM's config files. */
  readonly configs?: Record<string, string>;
}

/** A VM vmflow never created. Defaults: 1 cpu, 512 MiB, 10 GiB, running, provisioned, no uuid. */
export interface SimUnknownVm extends SimVmPatch {
  readonly name: string;
  readonly uuid?: string;
}

/** Settings applied when the farm starts: hosts are added when absent from the saved state. */
export interface SimDefaults {
  readonly hosts?: readonly HostInit[];
  /** Global delays in ms per operation (`*` = any), merged over the saved ones. */
  readonly delays?: Readonly<Record<string, number>>;
  /** Added only when there is no saved state yet (saved rules already include them). */
  readonly failures?: readonly FailureRuleInit[];
}

export interface SimStats {
  readonly requests: number;
  /** Operation calls accepted per operation name (refusals included). */
  readonly operations: Readonly<Record<string, number>>;
  readonly opsInFlight: number;
  readonly writes: number;
}

/** Extracts the host id from a sim address `http://127.0.0.1:7070/hosts/hv-1`, or a bare id. */
export function hostIdOf(address: string): string {
  const i = address.lastIndexOf('/hosts/');
  if (i < 0) return address;
  return decodeURIComponent(address.slice(i + '/hosts/'.length).replace(/\/+$/, ''));
}
