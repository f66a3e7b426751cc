// The simulated hypervisor farm: hosts with capacity, their VMs and disks, operations in flight,
// delays and failure rules. Everything here is in memory; `StateFile` keeps it on disk.
//
// An operation is planned (preconditions checked, a refusal thrown at once), then either committed
// at once (no delay) or held in flight for its delay: the VM is busy, the memory or disk it needs
// is reserved, and a live migration's target copy exists. At the end it is re-checked and
// committed, or rolled back when it fails, is cancelled, or a host it touches crashes. Only the
// live-migration copy is visible on disk while in flight, marked with the migration's id, so a
// restart rolls back whatever was in flight by dropping such copies.
import type { HostStatus, ObservedContainer, ObservedState } from '../drivers/driver';
import type { Resources } from '../domain/types';
import {
  ANY_OPERATION,
  LOAD_PER_RUNNING_CPU,
  SIM_OPERATIONS,
  hostIdOf,
  type FailureRule,
  type FailureRuleInit,
  type HostInit,
  type HostPower,
  type SimCancelView,
  type SimDefaults,
  type SimErrorBody,
  type SimHostDetail,
  type SimHostView,
  type SimOpView,
  type SimStats,
  type SimUnknownVm,
  type SimVmPatch,
  type SimVmSpec,
  type SimVmView,
  type SimVolumeView,
} from './protocol';

/** Where the farm keeps its state. */
export interface SimStore {
  save(): Promise<void>;
  readonly writes: number;
}

/** An error with the HTTP status and body the server answers with. */
export class SimFault extends Error {
  override readonly name = 'SimFault';
  constructor(
    readonly status: number,
    readonly body: SimErrorBody,
  ) {
    super(body.message);
  }
}

const refused = (message: string) => new SimFault(409, { code: 'refused', message });
const badRequest = (message: string) => new SimFault(400, { code: 'bad_request', message });

interface Vm {
  readonly name: string;
  id?: string;
  state: ObservedState;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  mac?: string;
  ip?: string;
  image?: string;
  configs: Map<string, string>;
  ignoresShutdown: boolean;
  /** Set on the target copy while a live migration is in flight. */
  migration?: string;
}

interface Volume {
  diskGiB: number;
  image?: string;
  migration?: string;
}

interface Host {
  readonly id: string;
  capacity: Resources;
  baseLoad: number;
  power: HostPower;
  delays: Record<string, number>;
  readonly vms: Map<string, Vm>;
  readonly volumes: Map<string, Volume>;
}

interface Rule extends FailureRuleInit {
  readonly id: string;
  fired: number;
  /** State of the rule's random generator. */
  rng: number;
}

interface Reservation {
  readonly host: string;
  readonly memoryMiB: number;
  readonly diskGiB: number;
}

/** What an operation will do, built after its preconditions passed. */
interface Plan {
  /** [host, vm] pairs no other operation may touch meanwhile. */
  readonly busy: ReadonlyArray<readonly [string, string]>;
  /** Capacity held while in flight, so concurrent operations cannot both take it. */
  readonly reserve?: readonly Reservation[];
  /** Every host involved: a crash of any of them rolls the operation back. */
  readonly hosts: readonly string[];
  /** Overrides the configured delay (a shutdown the guest ignores lasts its timeout). */
  readonly expectedMs?: number;
  /** Visible effects while in flight. */
  begin?(opId: string): void;
  /** Re-checks and applies; throws a SimFault when no longer possible. */
  commit(opId: string): unknown;
  rollback?(opId: string): void;
}

interface Op {
  readonly id: string;
  readonly host: string;
  readonly operation: string;
  readonly vm: string;
  readonly plan: Plan;
  readonly startedAt: number;
  readonly expectedMs: number;
  readonly failure?: SimErrorBody;
  timer?: NodeJS.Timeout;
  phase: 'running' | 'settling' | 'done';
  settled?: Promise<void>;
  cancelled: boolean;
  result?: unknown;
  error?: SimErrorBody;
}

const STATES: readonly ObservedState[] = ['defined', 'stopped', 'running', 'suspended', 'migrating', 'crashed'];
/** States in which a VM holds its memory (and vCPUs) on the host. */
const HOLDS_MEMORY: ReadonlySet<ObservedState> = new Set(['running', 'suspended', 'migrating']);
const POWERED_OFF: ReadonlySet<ObservedState> = new Set(['defined', 'stopped']);
const HOST_ID = /^[A-Za-z0-9._-]{1,100}$/;
/** Finished operations kept for late polls. */
const FINISHED_KEPT = 2000;
const FORMAT = 'vmflow-sim/1';

/** Persisted shape. */
interface SavedState {
  format: typeof FORMAT;
  savedAt: string;
  delays: Record<string, number>;
  ruleSeq: number;
  rules: Rule[];
  hosts: Array<{
    id: string;
    capacity: Resources;
    baseLoad: number;
    power: HostPower;
    delays: Record<string, number>;
    vms: Array<Omit<Vm, 'configs'> & { configs: Record<string, string> }>;
    volumes: Array<Volume & { name: string }>;
  }>;
}

function mulberry32(state: number): { value: number; next: number } {
  const next = (state + 0x6d2b79f5) | 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: ((t ^ (t >>> 14)) >>> 0) / 4294967296, next };
}

function positive(value: unknown, field: string, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw badRequest(`${field} must be a ${allowZero ? 'non-negative' : 'positive'} number, not ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest(`${field} must be a string`);
  return value;
}

function specOf(body: unknown, name?: string): SimVmSpec {
  const spec = (body as { spec?: unknown } | undefined)?.spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') throw badRequest('spec is required');
  if (typeof spec.name !== 'string' || !spec.name) throw badRequest('spec.name is required');
  if (name !== undefined && spec.name !== name) throw badRequest(`spec.name ${spec.name} does not match ${name} in the path`);
  return {
    id: optionalString(spec.id, 'spec.id'),
    name: spec.name,
    cpus: positive(spec.cpus, 'spec.cpus'),
    memoryMiB: positive(spec.memoryMiB, 'spec.memoryMiB'),
    diskGiB: positive(spec.diskGiB, 'spec.diskGiB', true),
    mac: optionalString(spec.mac, 'spec.mac'),
    ip: optionalString(spec.ip, 'spec.ip'),
    image: optionalString(spec.image, 'spec.image'),
  };
}

function newVm(spec: SimVmSpec, state: ObservedState, configs = new Map<string, string>()): Vm {
  return {
    name: spec.name,
    id: spec.id,
    state,
    cpus: spec.cpus,
    memoryMiB: spec.memoryMiB,
    diskGiB: spec.diskGiB,
    mac: spec.mac,
    ip: spec.ip,
    image: spec.image,
    configs,
    ignoresShutdown: false,
  };
}

function checkDelays(delays: unknown): Record<string, number | null> {
  if (!delays || typeof delays !== 'object') throw badRequest('delays must be an object of operation: ms');
  const known = new Set<string>([...SIM_OPERATIONS, ANY_OPERATION]);
  for (const [op, ms] of Object.entries(delays)) {
    if (!known.has(op)) throw badRequest(`unknown operation ${op}; known: ${[...known].join(', ')}`);
    if (ms !== null) positive(ms, `delay of ${op}`, true);
  }
  return delays as Record<string, number | null>;
}

function mergeDelays(into: Record<string, number>, delays: Record<string, number | null>): void {
  for (const [op, ms] of Object.entries(delays)) {
    if (ms === null) delete into[op];
    else into[op] = ms;
  }
}

export class Farm {
  private readonly hosts = new Map<string, Host>();
  private delays: Record<string, number> = {};
  private rules: Rule[] = [];
  private ruleSeq = 0;
  private readonly ops = new Map<string, Op>();
  private readonly busy = new Map<string, Op>();
  private readonly reserved = new Map<string, { memoryMiB: number; diskGiB: number }>();
  private readonly bootId = Math.random().toString(36).slice(2, 8);
  private opSeq = 0;
  private inFlight = 0;
  private requests = 0;
  private readonly opCounts: Record<string, number> = {};
  /** The farm's own origin, `http://127.0.0.1:PORT`, once listening: targets must be in it. */
  origin: string | undefined;

  /** `store.save()` resolves once the current state is on disk. */
  constructor(private readonly store: SimStore) {}

  private save(): Promise<void> {
    return this.store.save();
  }

  // ---- persistence -------------------------------------------------------------------------

  snapshot(): SavedState {
    return {
      format: FORMAT,
      savedAt: new Date().toISOString(),
      delays: this.delays,
      ruleSeq: this.ruleSeq,
      rules: this.rules,
      hosts: [...this.hosts.values()].map((h) => ({
        id: h.id,
        capacity: h.capacity,
        baseLoad: h.baseLoad,
        power: h.power,
        delays: h.delays,
        vms: [...h.vms.values()].map((vm) => ({ ...vm, configs: Object.fromEntries(vm.configs) })),
        volumes: [...h.volumes].map(([name, v]) => ({ name, ...v })),
      })),
    };
  }

  /** Restores a snapshot. Live-migration copies left by operations in flight are dropped: rolled back. */
  restore(raw: unknown): void {
    const saved = raw as SavedState;
    if (!saved || saved.format !== FORMAT) throw new Error(`sim state has an unknown format ${JSON.stringify(saved?.format)}`);
    this.delays = saved.delays ?? {};
    this.ruleSeq = saved.ruleSeq ?? 0;
    this.rules = saved.rules ?? [];
    this.hosts.clear();
    for (const h of saved.hosts) {
      const host: Host = {
        id: h.id,
        capacity: h.capacity,
        baseLoad: h.baseLoad ?? 0,
        power: h.power ?? 'up',
        delays: h.delays ?? {},
        vms: new Map(),
        volumes: new Map(),
      };
      for (const vm of h.vms) {
        if (vm.migration) continue;
        host.vms.set(vm.name, { ...vm, configs: new Map(Object.entries(vm.configs ?? {})) });
      }
      for (const { name, ...v } of h.volumes) if (!v.migration) host.volumes.set(name, v);
      this.hosts.set(host.id, host);
    }
  }

  /**
   * Adds the hosts `defaults` lists and the farm lacks, and merges its delays. Its failure rules
   * are added only to a `fresh` farm (no saved state): saved rules already include them. Does not save.
   */
  applyDefaults(defaults: SimDefaults, fresh: boolean): void {
    for (const h of defaults.hosts ?? []) if (!this.hosts.has(h.id)) this.hosts.set(h.id, this.hostFrom(h));
    if (defaults.delays) mergeDelays(this.delays, checkDelays(defaults.delays));
    if (fresh) for (const f of defaults.failures ?? []) this.rules.push(this.ruleFrom(f));
  }

  // ---- the hosts' API ----------------------------------------------------------------------

  countRequest(): void {
    this.requests++;
  }

  private count(operation: string): void {
    this.opCounts[operation] = (this.opCounts[operation] ?? 0) + 1;
  }

  async hostStatus(hostId: string): Promise<HostStatus> {
    const host = this.answering(hostId);
    this.count('hostStatus');
    await this.readPreamble(host, 'hostStatus', '');
    const used = this.used(host);
    return {
      reachable: true,
      capacity: host.capacity,
      free: this.free(host, used),
      load: this.load(host, used),
      containers: [...host.vms.values()].map((vm) => this.observed(host, vm)),
    };
  }

  async containerStatus(hostId: string, name: string): Promise<ObservedContainer> {
    const host = this.answering(hostId);
    this.count('containerStatus');
    await this.readPreamble(host, 'containerStatus', name);
    const vm = host.vms.get(name);
    if (!vm) throw new SimFault(404, { code: 'not_found', message: `${name} is not defined on ${hostId}` });
    return this.observed(host, vm);
  }

  /** Runs one operation on a VM. Resolves with the operation's view, done or in flight. */
  async operate(hostId: string, operation: string, name: string, body: Record<string, unknown>): Promise<SimOpView> {
    const host = this.answering(hostId);
    this.count(operation);
    if (operation === 'readConfig') {
      await this.readPreamble(host, operation, name);
      const path = this.configPath(body);
      const vm = this.vmOf(host, name);
      return this.instantView(host, operation, name, { content: vm.configs.get(path) ?? null });
    }
    const opId = optionalString(body.opId, 'opId') ?? `${this.bootId}-${++this.opSeq}`;
    if (this.ops.has(opId)) throw badRequest(`operation id ${opId} is already used`);
    const plan = this.plan(host, operation, name, body);
    const rule = this.fire(operation, hostId, name);
    if (rule?.kind === 'unreachable') {
      await this.save();
      throw new SimFault(503, { code: 'unreachable', host: hostId, message: rule.message ?? `${hostId} did not answer`, rule: rule.id });
    }
    const failure: SimErrorBody | undefined = rule && {
      code: 'failed',
      message: rule.message ?? `injected failure of ${operation}`,
      transient: rule.transient ?? false,
      rule: rule.id,
    };
    const expectedMs = plan.expectedMs ?? this.delayOf(host, operation);
    if (expectedMs <= 0) {
      if (failure) {
        await this.save();
        throw new SimFault(500, failure);
      }
      const result = plan.commit(opId);
      await this.save();
      return this.instantView(host, operation, name, result ?? null, opId);
    }
    const op: Op = {
      id: opId,
      host: hostId,
      operation,
      vm: name,
      plan,
      startedAt: Date.now(),
      expectedMs,
      failure,
      phase: 'running',
      cancelled: false,
    };
    this.ops.set(opId, op);
    this.inFlight++;
    for (const [h, n] of plan.busy) this.busy.set(`${h}/${n}`, op);
    for (const r of plan.reserve ?? []) this.adjustReserved(r, 1);
    plan.begin?.(opId);
    op.timer = setTimeout(() => void this.settle(op, () => this.complete(op)), expectedMs);
    if (plan.begin || rule) await this.save();
    return this.opView(op);
  }

  /** The view of an operation, for polling. */
  operation(hostId: string, opId: string): SimOpView {
    this.answering(hostId);
    return this.opView(this.opOf(hostId, opId));
  }

  /** Cancels an operation in flight: it is rolled back. Too late when it already finished. */
  async cancel(hostId: string, opId: string): Promise<SimCancelView> {
    this.answering(hostId);
    const op = this.opOf(hostId, opId);
    if (op.phase === 'running') {
      await this.settle(op, () => {
        op.plan.rollback?.(op.id);
        op.cancelled = true;
        op.error = { code: 'cancelled', message: `${op.operation} of ${op.vm} was cancelled and rolled back` };
      });
    } else if (op.settled) {
      await op.settled;
    }
    return { ...this.opView(op), cancelled: op.cancelled };
  }

  /** Rolls back everything in flight (the farm is shutting down) and saves. */
  async shutdown(): Promise<void> {
    const running = [...this.ops.values()].filter((op) => op.phase === 'running');
    await Promise.all(
      running.map((op) =>
        this.settle(op, () => {
          op.plan.rollback?.(op.id);
          op.error = { code: 'cancelled', message: 'the sim shut down; the operation was rolled back', transient: true };
        }),
      ),
    );
    await this.save();
  }

  // ---- admin -------------------------------------------------------------------------------

  stats(): SimStats {
    return { requests: this.requests, operations: { ...this.opCounts }, opsInFlight: this.inFlight, writes: this.store.writes };
  }

  listHosts(): SimHostView[] {
    return [...this.hosts.values()].map((h) => this.hostView(h));
  }

  hostDetail(hostId: string): SimHostDetail {
    const host = this.hostOf(hostId);
    return {
      ...this.hostView(host),
      vms: [...host.vms.values()].map((vm) => this.vmView(host, vm)),
      volumes: [...host.volumes].map(([name, v]): SimVolumeView => ({ name, diskGiB: v.diskGiB, image: v.image })),
    };
  }

  listVms(hostId?: string): SimVmView[] {
    const hosts = hostId ? [this.hostOf(hostId)] : [...this.hosts.values()];
    return hosts.flatMap((h) => [...h.vms.values()].map((vm) => this.vmView(h, vm)));
  }

  vmDetail(hostId: string, name: string): SimVmView {
    const host = this.hostOf(hostId);
    const vm = host.vms.get(name);
    if (!vm) throw new SimFault(404, { code: 'not_found', message: `${name} is not defined on ${hostId}` });
    return this.vmView(host, vm);
  }

  async addHost(init: HostInit): Promise<SimHostView> {
    const host = this.hostFrom(init);
    if (this.hosts.has(host.id)) throw refused(`host ${host.id} already exists`);
    this.hosts.set(host.id, host);
    await this.save();
    return this.hostView(host);
  }

  async updateHost(hostId: string, patch: Partial<Omit<HostInit, 'id'>>): Promise<SimHostView> {
    const host = this.hostOf(hostId);
    host.capacity = {
      cpus: patch.cpus === undefined ? host.capacity.cpus : positive(patch.cpus, 'cpus'),
      memoryMiB: patch.memoryMiB === undefined ? host.capacity.memoryMiB : positive(patch.memoryMiB, 'memoryMiB'),
      diskGiB: patch.diskGiB === undefined ? host.capacity.diskGiB : positive(patch.diskGiB, 'diskGiB'),
    };
    if (patch.baseLoad !== undefined) host.baseLoad = positive(patch.baseLoad, 'baseLoad', true);
    await this.save();
    return this.hostView(host);
  }

  async removeHost(hostId: string): Promise<void> {
    this.hostOf(hostId);
    await this.abortTouching(hostId, `${hostId} was removed from the farm`);
    this.hosts.delete(hostId);
    await this.save();
  }

  /** The host loses power: operations touching it roll back; its VMs end up powered off but defined. */
  async crash(hostId: string): Promise<SimHostView> {
    const host = this.hostOf(hostId);
    host.power = 'crashed';
    await this.abortTouching(hostId, `${hostId} crashed during the operation`);
    for (const vm of host.vms.values()) if (vm.state !== 'defined') vm.state = 'stopped';
    await this.save();
    return this.hostView(host);
  }

  /** The host stops answering but keeps running: its VMs and operations carry on. */
  async partition(hostId: string): Promise<SimHostView> {
    const host = this.hostOf(hostId);
    host.power = 'partitioned';
    await this.save();
    return this.hostView(host);
  }

  async rejoin(hostId: string): Promise<SimHostView> {
    const host = this.hostOf(hostId);
    host.power = 'up';
    await this.save();
    return this.hostView(host);
  }

  getDelays(hostId?: string): Record<string, number> {
    return { ...(hostId ? this.hostOf(hostId).delays : this.delays) };
  }

  /** Merges delays (ms per operation, `*` for any; null removes one), on one host or globally. */
  async setDelays(delays: unknown, hostId?: string): Promise<Record<string, number>> {
    const target = hostId ? this.hostOf(hostId).delays : this.delays;
    mergeDelays(target, checkDelays(delays));
    await this.save();
    return { ...target };
  }

  listFailures(): FailureRule[] {
    return this.rules.map((r) => this.ruleView(r));
  }

  async addFailure(init: FailureRuleInit): Promise<FailureRule> {
    const rule = this.ruleFrom(init);
    this.rules.push(rule);
    await this.save();
    return this.ruleView(rule);
  }

  async removeFailure(id: string): Promise<void> {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    if (this.rules.length === before) throw new SimFault(404, { code: 'not_found', message: `no failure rule ${id}` });
    await this.save();
  }

  async clearFailures(): Promise<void> {
    this.rules = [];
    await this.save();
  }

  /** Adds a VM vmflow does not know about, without any check. */
  async addVm(hostId: string, init: SimUnknownVm): Promise<SimVmView> {
    const host = this.hostOf(hostId);
    if (typeof init?.name !== 'string' || !init.name) throw badRequest('name is required');
    if (host.vms.has(init.name)) throw refused(`${init.name} is already defined on ${hostId}`);
    const vm = newVm(
      {
        name: init.name,
        cpus: init.cpus ?? 1,
        memoryMiB: init.memoryMiB ?? 512,
        diskGiB: init.diskGiB ?? 10,
        mac: init.mac,
      },
      'running',
    );
    host.vms.set(vm.name, vm);
    this.tamper(host, vm, { provisioned: true, ...init });
    await this.save();
    return this.vmView(host, vm);
  }

  /** Changes a VM behind vmflow's back, without any check. */
  async patchVm(hostId: string, name: string, patch: SimVmPatch): Promise<SimVmView> {
    const host = this.hostOf(hostId);
    const vm = host.vms.get(name);
    if (!vm) throw new SimFault(404, { code: 'not_found', message: `${name} is not defined on ${hostId}` });
    this.tamper(host, vm, patch ?? {});
    await this.save();
    return this.vmView(host, vm);
  }

  /** Removes a VM and its disk behind vmflow's back. */
  async removeVm(hostId: string, name: string): Promise<void> {
    const host = this.hostOf(hostId);
    if (!host.vms.delete(name) && !host.volumes.delete(name)) {
      throw new SimFault(404, { code: 'not_found', message: `${name} is not on ${hostId}` });
    }
    host.volumes.delete(name);
    await this.save();
  }

  listOps(): SimOpView[] {
    return [...this.ops.values()].filter((op) => op.phase !== 'done').map((op) => this.opView(op));
  }

  /** Forgets every host, delay and failure rule; operations in flight are rolled back. */
  async reset(): Promise<void> {
    for (const id of [...this.hosts.keys()]) await this.abortTouching(id, 'the sim was reset');
    this.hosts.clear();
    this.delays = {};
    this.rules = [];
    await this.save();
  }

  // ---- operations --------------------------------------------------------------------------

  private plan(host: Host, operation: string, name: string, body: Record<string, unknown>): Plan {
    const h = host.id;
    const one = { busy: [[h, name]] as const, hosts: [h] };
    switch (operation) {
      case 'define': {
        const spec = specOf(body, name);
        const check = () => {
          this.notBusy(host, name);
          if (host.vms.has(name)) throw refused(`${name} is already defined on ${h}`);
        };
        check();
        return {
          ...one,
          commit: () => {
            check();
            host.vms.set(name, newVm(spec, 'defined'));
          },
        };
      }
      case 'undefine': {
        const check = () => {
          const vm = this.vmOf(host, name);
          this.notBusy(host, name);
          if (HOLDS_MEMORY.has(vm.state)) throw refused(`${name} is ${vm.state}; stop it before undefining it`);
        };
        check();
        return {
          ...one,
          commit: () => {
            check();
            host.vms.delete(name);
          },
        };
      }
      case 'provision': {
        const spec = specOf(body, name);
        const check = () => {
          this.notBusy(host, name);
          if (host.volumes.has(name)) throw refused(`${name} already has a disk on ${h}`);
          this.fits(host, name, 0, spec.diskGiB);
        };
        check();
        return {
          ...one,
          reserve: [{ host: h, memoryMiB: 0, diskGiB: spec.diskGiB }],
          commit: () => {
            check();
            host.volumes.set(name, { diskGiB: spec.diskGiB, image: spec.image });
          },
        };
      }
      case 'deprovision': {
        const check = () => {
          this.notBusy(host, name);
          if (!host.volumes.has(name)) throw refused(`${name} has no disk on ${h}`);
          const vm = host.vms.get(name);
          if (vm && HOLDS_MEMORY.has(vm.state)) throw refused(`${name} is ${vm.state}; stop it before removing its disk`);
        };
        check();
        return {
          ...one,
          commit: () => {
            check();
            host.volumes.delete(name);
          },
        };
      }
      case 'start': {
        const check = () => {
          const vm = this.vmOf(host, name);
          this.notBusy(host, name);
          if (vm.state === 'running') throw refused(`${name} is already running`);
          if (vm.state === 'suspended') throw refused(`${name} is suspended; resume it instead`);
          if (vm.state === 'migrating') throw refused(`${name} is the target copy of a live migration`);
          if (!host.volumes.has(name)) throw refused(`${name} has no disk; provision it first`);
          this.fits(host, name, vm.memoryMiB, 0);
          return vm;
        };
        const vm = check();
        return {
          ...one,
          reserve: [{ host: h, memoryMiB: vm.memoryMiB, diskGiB: 0 }],
          commit: () => {
            check().state = 'running';
          },
        };
      }
      case 'stop':
        return this.transition(host, name, ['running', 'suspended', 'crashed'], 'stopped', (vm) =>
          POWERED_OFF.has(vm.state) ? `${name} is not running (it is ${vm.state})` : undefined,
        );
      case 'shutdown': {
        const timeoutMs = positive(body.timeoutMs ?? 0, 'timeoutMs', true);
        const vm = this.vmOf(host, name);
        const plan = this.transition(host, name, ['running'], 'stopped', (v) =>
          v.state === 'suspended' ? `${name} is suspended; resume it or stop it` : undefined,
        );
        if (!vm.ignoresShutdown) return plan;
        // The guest ignores the request: it is forced off once the timeout has passed.
        return { ...plan, expectedMs: timeoutMs, commit: (id) => ({ ...(plan.commit(id) as object), forced: true }) };
      }
      case 'reboot':
        return this.transition(host, name, ['running'], 'running');
      case 'suspend':
        return this.transition(host, name, ['running'], 'suspended');
      case 'resume':
        return this.transition(host, name, ['suspended'], 'running');
      case 'clone':
        return this.planClone(host, name, body);
      case 'migrate':
        return this.planMigrate(host, name, body);
      case 'applyConfig': {
        const path = this.configPath(body);
        if (typeof body.content !== 'string') throw badRequest('content must be a string');
        const content = body.content;
        const check = () => {
          const vm = this.vmOf(host, name);
          if (vm.state === 'migrating') throw refused(`${name} on ${h} is the target copy of a live migration`);
          return vm;
        };
        check();
        return { busy: [], hosts: [h], commit: () => void check().configs.set(path, content) };
      }
      default:
        throw new SimFault(404, { code: 'bad_request', message: `unknown operation ${operation}` });
    }
  }

  /** A plain state change from one of `from` to `to`; `why` explains a refusal better than the default. */
  private transition(
    host: Host,
    name: string,
    from: readonly ObservedState[],
    to: ObservedState,
    why?: (vm: Vm) => string | undefined,
  ): Plan {
    const check = () => {
      const vm = this.vmOf(host, name);
      this.notBusy(host, name);
      if (!from.includes(vm.state)) throw refused(why?.(vm) ?? `${name} is ${vm.state}, not ${from.join(' or ')}`);
      return vm;
    };
    check();
    return {
      busy: [[host.id, name]],
      hosts: [host.id],
      commit: () => {
        check().state = to;
        return {};
      },
    };
  }

  private planClone(source: Host, name: string, body: Record<string, unknown>): Plan {
    const target = this.targetOf(body);
    const spec = specOf(body);
    const copy = spec.name;
    const check = () => {
      const vm = this.vmOf(source, name);
      this.notBusy(source, name);
      if (!POWERED_OFF.has(vm.state)) throw refused(`${name} is ${vm.state}; only a stopped container can be cloned`);
      const disk = source.volumes.get(name);
      if (!disk) throw refused(`${name} has no disk to copy; provision it first`);
      this.notBusy(target, copy);
      if (target.vms.has(copy)) throw refused(`${copy} is already defined on ${target.id}`);
      if (target.volumes.has(copy)) throw refused(`${target.id} already has a disk named ${copy}`);
      this.fits(target, copy, 0, spec.diskGiB);
      return { vm, disk };
    };
    check();
    return {
      busy: [
        [source.id, name],
        [target.id, copy],
      ],
      reserve: [{ host: target.id, memoryMiB: 0, diskGiB: spec.diskGiB }],
      hosts: [source.id, target.id],
      commit: () => {
        const { vm, disk } = check();
        target.vms.set(copy, newVm(spec, 'stopped', new Map(vm.configs)));
        target.volumes.set(copy, { diskGiB: spec.diskGiB, image: disk.image });
      },
    };
  }

  private planMigrate(source: Host, name: string, body: Record<string, unknown>): Plan {
    const target = this.targetOf(body);
    if (typeof body.live !== 'boolean') throw badRequest('live must be true or false');
    const live = body.live;
    if (target === source) throw refused(`${name} is already on ${source.id}`);
    const check = () => {
      const vm = this.vmOf(source, name);
      this.notBusy(source, name);
      if (live && vm.state !== 'running') throw refused(`cannot migrate ${name} live: it is ${vm.state}, not running`);
      if (!live && !POWERED_OFF.has(vm.state)) throw refused(`cannot migrate ${name} cold: it is ${vm.state}; stop it first`);
      this.notBusy(target, name);
      if (target.vms.has(name)) throw refused(`${name} is already defined on ${target.id}`);
      if (target.volumes.has(name)) throw refused(`${target.id} already has a disk named ${name}`);
      const disk = source.volumes.get(name);
      this.fits(target, name, live ? vm.memoryMiB : 0, disk?.diskGiB ?? 0);
      return { vm, disk };
    };
    const dropCopy = (id: string) => {
      if (target.vms.get(name)?.migration === id) target.vms.delete(name);
      if (target.volumes.get(name)?.migration === id) target.volumes.delete(name);
    };
    const { vm, disk } = check();
    return {
      busy: [
        [source.id, name],
        [target.id, name],
      ],
      // A live migration's copy holds its memory and disk on the target; a cold one only its disk.
      reserve: live ? [] : [{ host: target.id, memoryMiB: 0, diskGiB: disk?.diskGiB ?? 0 }],
      hosts: [source.id, target.id],
      begin: live
        ? (id) => {
            target.vms.set(name, { ...vm, configs: new Map(vm.configs), state: 'migrating', migration: id });
            if (disk) target.volumes.set(name, { ...disk, migration: id });
          }
        : undefined,
      commit: (id) => {
        dropCopy(id);
        const now = check();
        source.vms.delete(name);
        source.volumes.delete(name);
        target.vms.set(name, { ...now.vm, configs: new Map(now.vm.configs), state: live ? 'running' : now.vm.state, migration: undefined });
        if (now.disk) target.volumes.set(name, { diskGiB: now.disk.diskGiB, image: now.disk.image });
      },
      rollback: dropCopy,
    };
  }

  /** Ends an operation once: `finish` commits or rolls back; then the state is saved and it is done. */
  private settle(op: Op, finish: () => void): Promise<void> {
    if (op.phase !== 'running') return op.settled ?? Promise.resolve();
    op.phase = 'settling';
    if (op.timer) clearTimeout(op.timer);
    this.inFlight--;
    for (const [h, n] of op.plan.busy) {
      const key = `${h}/${n}`;
      if (this.busy.get(key) === op) this.busy.delete(key);
    }
    for (const r of op.plan.reserve ?? []) this.adjustReserved(r, -1);
    finish();
    op.settled = this.save().then(
      () => this.retire(op),
      (err: unknown) => {
        op.error ??= { code: 'internal', message: `could not save the sim state: ${(err as Error).message}`, transient: true };
        this.retire(op);
      },
    );
    return op.settled;
  }

  private complete(op: Op): void {
    if (op.failure) {
      op.plan.rollback?.(op.id);
      op.error = op.failure;
      return;
    }
    try {
      op.result = op.plan.commit(op.id) ?? null;
    } catch (err) {
      op.plan.rollback?.(op.id);
      op.error =
        err instanceof SimFault ? err.body : { code: 'internal', message: (err as Error).message ?? String(err) };
    }
  }

  private retire(op: Op): void {
    op.phase = 'done';
    // Keep finished operations for late polls, dropping the oldest (Map keeps insertion order).
    if (this.ops.size > FINISHED_KEPT) {
      for (const [id, old] of this.ops) {
        if (this.ops.size <= FINISHED_KEPT) break;
        if (old.phase === 'done') this.ops.delete(id);
      }
    }
  }

  private async abortTouching(hostId: string, message: string): Promise<void> {
    const touching = [...this.ops.values()].filter((op) => op.phase === 'running' && op.plan.hosts.includes(hostId));
    await Promise.all(
      touching.map((op) =>
        this.settle(op, () => {
          op.plan.rollback?.(op.id);
          op.error = { code: 'unreachable', host: hostId, message, transient: true };
        }),
      ),
    );
  }

  // ---- helpers -----------------------------------------------------------------------------

  /** The host, if it answers: unknown hosts and hosts that are down do not. */
  private answering(hostId: string): Host {
    const host = this.hosts.get(hostId);
    if (!host) {
      throw new SimFault(404, { code: 'unknown_host', host: hostId, message: `the sim farm has no host ${hostId}` });
    }
    if (host.power !== 'up') {
      throw new SimFault(503, {
        code: 'unreachable',
        host: hostId,
        message: `${hostId} does not answer (${host.power === 'crashed' ? 'crashed' : 'network partition'})`,
        transient: true,
      });
    }
    return host;
  }

  private hostOf(hostId: string): Host {
    const host = this.hosts.get(hostId);
    if (!host) throw new SimFault(404, { code: 'not_found', message: `the sim farm has no host ${hostId}` });
    return host;
  }

  private targetOf(body: Record<string, unknown>): Host {
    if (typeof body.target !== 'string' || !body.target) throw badRequest('target is required');
    if (body.target.startsWith('http') && this.origin && !body.target.startsWith(`${this.origin}/`)) {
      throw refused(`target ${body.target} is not in this farm (${this.origin}); hosts can only reach hosts of their own farm`);
    }
    return this.answering(hostIdOf(body.target));
  }

  private vmOf(host: Host, name: string): Vm {
    const vm = host.vms.get(name);
    if (!vm) throw refused(`${name} is not defined on ${host.id}`);
    return vm;
  }

  private notBusy(host: Host, name: string): void {
    const op = this.busy.get(`${host.id}/${name}`);
    // Transient: the same call can succeed once the operation in flight ends.
    if (op) {
      throw new SimFault(409, {
        code: 'refused',
        message: `${name} on ${host.id} is busy: ${op.operation} ${op.id} is in flight`,
        transient: true,
      });
    }
  }

  private configPath(body: Record<string, unknown>): string {
    if (typeof body.path !== 'string' || !body.path) throw badRequest('path is required');
    return body.path;
  }

  private used(host: Host): Resources {
    let cpus = 0;
    let memoryMiB = 0;
    let diskGiB = 0;
    for (const vm of host.vms.values()) {
      if (HOLDS_MEMORY.has(vm.state)) {
        cpus += vm.cpus;
        memoryMiB += vm.memoryMiB;
      }
    }
    for (const v of host.volumes.values()) diskGiB += v.diskGiB;
    const r = this.reserved.get(host.id);
    return { cpus, memoryMiB: memoryMiB + (r?.memoryMiB ?? 0), diskGiB: diskGiB + (r?.diskGiB ?? 0) };
  }

  private free(host: Host, used = this.used(host)): Resources {
    return {
      cpus: Math.max(0, host.capacity.cpus - used.cpus),
      memoryMiB: Math.max(0, host.capacity.memoryMiB - used.memoryMiB),
      diskGiB: Math.max(0, host.capacity.diskGiB - used.diskGiB),
    };
  }

  private load(host: Host, used = this.used(host)): number {
    return Math.round((host.baseLoad + used.cpus * LOAD_PER_RUNNING_CPU) * 100) / 100;
  }

  /** Refuses when `memoryMiB` or `diskGiB` more do not fit in what the host has free. */
  private fits(host: Host, name: string, memoryMiB: number, diskGiB: number): void {
    const free = this.free(host);
    if (memoryMiB > free.memoryMiB) {
      throw refused(
        `not enough free memory on ${host.id} for ${name}: it needs ${memoryMiB} MiB, ` +
          `${free.memoryMiB} MiB of ${host.capacity.memoryMiB} MiB are free`,
      );
    }
    if (diskGiB > free.diskGiB) {
      throw refused(
        `not enough free disk on ${host.id} for ${name}: it needs ${diskGiB} GiB, ` +
          `${free.diskGiB} GiB of ${host.capacity.diskGiB} GiB are free`,
      );
    }
  }

  private adjustReserved(r: Reservation, sign: 1 | -1): void {
    const cur = this.reserved.get(r.host) ?? { memoryMiB: 0, diskGiB: 0 };
    cur.memoryMiB += sign * r.memoryMiB;
    cur.diskGiB += sign * r.diskGiB;
    this.reserved.set(r.host, cur);
  }

  private delayOf(host: Host, operation: string): number {
    return host.delays[operation] ?? host.delays[ANY_OPERATION] ?? this.delays[operation] ?? this.delays[ANY_OPERATION] ?? 0;
  }

  /** Applies failure rules and the delay of a read. */
  private async readPreamble(host: Host, operation: string, name: string): Promise<void> {
    const rule = this.fire(operation, host.id, name);
    if (rule) {
      await this.save();
      if (rule.kind === 'unreachable') {
        throw new SimFault(503, { code: 'unreachable', host: host.id, message: rule.message ?? `${host.id} did not answer`, rule: rule.id });
      }
      throw new SimFault(500, {
        code: 'failed',
        message: rule.message ?? `injected failure of ${operation}`,
        transient: rule.transient ?? false,
        rule: rule.id,
      });
    }
    const ms = this.delayOf(host, operation);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** The first failure rule that fires for this call, consumed; undefined when none does. */
  private fire(operation: string, hostId: string, vm: string): Rule | undefined {
    if (this.rules.length === 0) return undefined;
    for (const rule of this.rules) {
      if (rule.operation !== undefined && rule.operation !== operation) continue;
      if (rule.host !== undefined && rule.host !== hostId) continue;
      if (rule.vm !== undefined && rule.vm !== vm) continue;
      if (rule.probability !== undefined && rule.probability < 1) {
        const draw = mulberry32(rule.rng);
        rule.rng = draw.next;
        if (draw.value >= rule.probability) continue;
      }
      rule.fired++;
      if (rule.times !== undefined && rule.fired >= rule.times) this.rules = this.rules.filter((r) => r !== rule);
      return rule;
    }
    return undefined;
  }

  private ruleFrom(init: FailureRuleInit): Rule {
    if (!init || typeof init !== 'object') throw badRequest('a failure rule must be an object');
    if (init.operation !== undefined && !(SIM_OPERATIONS as readonly string[]).includes(init.operation)) {
      throw badRequest(`unknown operation ${init.operation}; known: ${SIM_OPERATIONS.join(', ')}`);
    }
    if (init.probability !== undefined && !(init.probability >= 0 && init.probability <= 1)) {
      throw badRequest('probability must be between 0 and 1');
    }
    if (init.times !== undefined && !(Number.isInteger(init.times) && init.times > 0)) {
      throw badRequest('times must be a positive integer');
    }
    if (init.kind !== undefined && init.kind !== 'error' && init.kind !== 'unreachable') {
      throw badRequest('kind must be error or unreachable');
    }
    const id = `rule-${++this.ruleSeq}`;
    const seed = init.seed ?? this.ruleSeq;
    return {
      operation: init.operation,
      host: init.host,
      vm: init.vm,
      probability: init.probability,
      seed,
      times: init.times,
      message: init.message,
      kind: init.kind,
      transient: init.transient,
      id,
      fired: 0,
      rng: seed | 0,
    };
  }

  private ruleView(rule: Rule): FailureRule {
    const { rng: _rng, ...view } = rule;
    return view;
  }

  private hostFrom(init: HostInit): Host {
    if (!init || typeof init.id !== 'string' || !HOST_ID.test(init.id)) {
      throw badRequest(`host id must be 1-100 letters, digits, '.', '_' or '-', not ${JSON.stringify(init?.id)}`);
    }
    const delays: Record<string, number> = {};
    if (init.delays !== undefined) mergeDelays(delays, checkDelays(init.delays));
    return {
      id: init.id,
      capacity: {
        cpus: positive(init.cpus, 'cpus'),
        memoryMiB: positive(init.memoryMiB, 'memoryMiB'),
        diskGiB: positive(init.diskGiB, 'diskGiB'),
      },
      baseLoad: positive(init.baseLoad ?? 0, 'baseLoad', true),
      power: 'up',
      delays,
      vms: new Map(),
      volumes: new Map(),
    };
  }

  private tamper(host: Host, vm: Vm, patch: SimVmPatch): void {
    if (patch.state !== undefined) {
      if (!STATES.includes(patch.state)) throw badRequest(`state must be one of ${STATES.join(', ')}`);
      vm.state = patch.state;
    }
    if (patch.cpus !== undefined) vm.cpus = positive(patch.cpus, 'cpus');
    if (patch.memoryMiB !== undefined) vm.memoryMiB = positive(patch.memoryMiB, 'memoryMiB');
    if (patch.diskGiB !== undefined) vm.diskGiB = positive(patch.diskGiB, 'diskGiB', true);
    if (patch.mac !== undefined) vm.mac = patch.mac;
    if (patch.ignoresShutdown !== undefined) vm.ignoresShutdown = Boolean(patch.ignoresShutdown);
    if (patch.configs !== undefined) vm.configs = new Map(Object.entries(patch.configs));
    if (patch.provisioned === true && !host.volumes.has(vm.name)) host.volumes.set(vm.name, { diskGiB: vm.diskGiB });
    if (patch.provisioned === false) host.volumes.delete(vm.name);
  }

  private opOf(hostId: string, opId: string): Op {
    const op = this.ops.get(opId);
    if (!op || op.host !== hostId) {
      throw new SimFault(404, {
        code: 'unknown_op',
        message: `${hostId} knows no operation ${opId}; if the sim restarted, it was rolled back: check the container's state`,
        transient: true,
      });
    }
    return op;
  }

  private observed(host: Host, vm: Vm): ObservedContainer {
    return {
      name: vm.name,
      state: vm.state,
      cpus: vm.cpus,
      memoryMiB: vm.memoryMiB,
      diskGiB: vm.diskGiB,
      mac: vm.mac,
      provisioned: host.volumes.has(vm.name),
    };
  }

  private vmView(host: Host, vm: Vm): SimVmView {
    return {
      host: host.id,
      ...this.observed(host, vm),
      ip: vm.ip,
      image: vm.image,
      configs: Object.fromEntries(vm.configs),
      ignoresShutdown: vm.ignoresShutdown,
      migration: vm.migration,
      busyWith: this.busy.get(`${host.id}/${vm.name}`)?.id,
    };
  }

  private hostView(host: Host): SimHostView {
    const used = this.used(host);
    return {
      id: host.id,
      power: host.power,
      capacity: host.capacity,
      free: this.free(host, used),
      load: this.load(host, used),
      baseLoad: host.baseLoad,
      vmCount: host.vms.size,
      delays: { ...host.delays },
    };
  }

  private opView(op: Op): SimOpView {
    const done = op.phase === 'done';
    return {
      id: op.id,
      host: op.host,
      operation: op.operation,
      vm: op.vm,
      done,
      fraction: done ? 1 : Math.min(0.99, (Date.now() - op.startedAt) / op.expectedMs),
      expectedMs: op.expectedMs,
      startedAt: new Date(op.startedAt).toISOString(),
      result: done ? op.result : undefined,
      error: done ? op.error : undefined,
    };
  }

  private instantView(host: Host, operation: string, vm: string, result: unknown, id = ''): SimOpView {
    return {
      id,
      host: host.id,
      operation,
      vm,
      done: true,
      fraction: 1,
      expectedMs: 0,
      startedAt: new Date().toISOString(),
      result,
    };
  }
}
