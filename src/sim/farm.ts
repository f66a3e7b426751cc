// The simulated hypervisor farm: hosts with capacity, their VMs and disks, operations in flight,
// delays and failure rules. Everything here is in memory; the SimStore keeps it on disk.
//
// An operation is planned (planner.ts: preconditions checked, a refusal thrown at once), then either
// committed at once (no delay) or held in flight for its delay (operations.ts): the VM is busy, the
// memory or disk it needs is reserved, and a live migration's target copy exists. At the end it is
// re-checked and committed, or rolled back when it fails, is cancelled, or a host it touches crashes.
import type { HostStatus, ObservedContainer } from '../drivers/driver';
import { badRequest, notFound, refused, SimFault } from './errors';
import { FaultRules, injectedError, injectedFault } from './fault-rules';
import { checkDelays, configPath, mergeDelays, optionalString, positive, type Body } from './input';
import { free, hostFrom, load, newVm, tamper, used, vmOf, type Host, type Vm } from './model';
import { instantView, OpsInFlight } from './operations';
import { planOperation, type PlanContext } from './planner';
import {
  ANY_OPERATION,
  hostIdOf,
  type FailureRule,
  type FailureRuleInit,
  type HostInit,
  type SimCancelView,
  type SimDefaults,
  type SimErrorBody,
  type SimHostDetail,
  type SimHostView,
  type SimOpView,
  type SimStats,
  type SimUnknownVm,
  type SimVmPatch,
  type SimVmView,
} from './protocol';
import { restoredState, savedFarm, savedHost, savedStateText } from './saved-state';
import type { StateSource } from './state-file';
import { hostDetail, hostView, observed, vmView } from './views';

/** Where the farm keeps its state. */
export interface SimStore {
  /** Resolves once the current state is on disk; `hostIds` names the only hosts changed since the last save. */
  save(hostIds?: readonly string[]): Promise<void>;
  readonly writes: number;
}

/** One host's answer in `hostStatuses`: its status, or why it gave none. */
export type HostStatusAnswer = { readonly status: HostStatus; readonly error?: undefined } | { readonly error: SimErrorBody; readonly status?: undefined };

function withTimeout<T>(work: Promise<T>, ms: number, hostId: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new SimFault(503, { code: 'unreachable', host: hostId, message: `${hostId} gave no answer within ${ms} ms`, transient: true })), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export class Farm implements StateSource {
  private readonly hosts = new Map<string, Host>();
  private delays: Record<string, number> = {};
  private readonly rules = new FaultRules();
  private readonly ops = new OpsInFlight((hostIds) => this.save(hostIds));
  /** Each host's saved state as JSON text, until it changes. */
  private readonly hostTexts = new Map<string, string>();
  private requests = 0;
  private readonly opCounts: Record<string, number> = {};
  private readonly planContext: PlanContext = {
    notBusy: (host, name) => this.ops.notBusy(host, name),
    targetOf: (body) => this.targetOf(body),
  };
  /** The farm's own origin, `http://127.0.0.1:PORT`, once listening: targets must be in it. */
  origin: string | undefined;

  /** `store.save()` resolves once the current state is on disk. */
  constructor(private readonly store: SimStore) {}

  /**
   * Saves the farm. `hostIds` names the only hosts changed since the last save (`[]`: only delays
   * or failure rules), so that a large farm writes just those again; without it every host is.
   */
  private save(hostIds?: readonly string[]): Promise<void> {
    if (hostIds) for (const id of hostIds) this.hostTexts.delete(id);
    else this.hostTexts.clear();
    return this.store.save(hostIds);
  }

  // ---- persistence -------------------------------------------------------------------------

  /** The whole saved state as JSON text, hosts unchanged since they were last serialised taken as they were. */
  snapshot(): string {
    return savedStateText({ hosts: this.hosts.values(), delays: this.delays, rules: this.rules.saved() }, (host) => this.hostText(host));
  }

  /** The delays and failure rules as JSON text. */
  farm(): string {
    return JSON.stringify(savedFarm({ delays: this.delays, rules: this.rules.saved() }));
  }

  /** One host's saved state as JSON text, or undefined when the farm has no such host. */
  host(id: string): string | undefined {
    const host = this.hosts.get(id);
    return host && this.hostText(host);
  }

  private hostText(host: Host): string {
    let text = this.hostTexts.get(host.id);
    if (text === undefined) this.hostTexts.set(host.id, (text = JSON.stringify(savedHost(host))));
    return text;
  }

  /** Restores a snapshot. Live-migration copies left by operations in flight are dropped: rolled back. */
  restore(raw: unknown): void {
    const state = restoredState(raw);
    this.delays = state.delays;
    this.rules.restore(state.rules);
    this.hosts.clear();
    for (const host of state.hosts) this.hosts.set(host.id, host);
  }

  /**
   * Adds the hosts `defaults` lists and the farm lacks, and merges its delays. Its failure rules
   * are added only to a `fresh` farm (no saved state): saved rules already include them. Does not save.
   */
  applyDefaults(defaults: SimDefaults, fresh: boolean): void {
    for (const h of defaults.hosts ?? []) if (!this.hosts.has(h.id)) this.hosts.set(h.id, hostFrom(h));
    if (defaults.delays) mergeDelays(this.delays, checkDelays(defaults.delays));
    if (fresh) for (const f of defaults.failures ?? []) this.rules.add(f);
  }

  // ---- the hosts' API ----------------------------------------------------------------------

  countRequest(): void {
    this.requests++;
  }

  async hostStatus(hostId: string): Promise<HostStatus> {
    const host = this.answering(hostId);
    this.count('hostStatus');
    await this.readPreamble(host, 'hostStatus', '');
    const taken = used(host);
    return {
      reachable: true,
      capacity: host.capacity,
      free: free(host, taken),
      load: load(host, taken),
      containers: [...host.vms.values()].map((vm) => observed(host, vm)),
    };
  }

  /**
   * Many hosts' status at once, each answering on its own as a fleet of agents would in parallel:
   * one host's delay, fault or silence costs the others nothing. A host slower than `timeoutMs`
   * (when given) is answered for as unreachable.
   */
  async hostStatuses(hostIds: readonly string[], timeoutMs?: number): Promise<Record<string, HostStatusAnswer>> {
    const answers = await Promise.all(
      hostIds.map(async (id): Promise<[string, HostStatusAnswer]> => {
        try {
          const status = this.hostStatus(id);
          return [id, { status: await (timeoutMs === undefined ? status : withTimeout(status, timeoutMs, id)) }];
        } catch (err) {
          return [id, { error: err instanceof SimFault ? err.body : { code: 'internal', message: (err as Error)?.message ?? String(err), transient: true } }];
        }
      }),
    );
    return Object.fromEntries(answers);
  }

  async containerStatus(hostId: string, name: string): Promise<ObservedContainer> {
    const host = this.answering(hostId);
    this.count('containerStatus');
    await this.readPreamble(host, 'containerStatus', name);
    return observed(host, this.vmDefinedOn(host, name));
  }

  /** Runs one operation on a VM. Resolves with the operation's view, done or in flight. */
  async operate(hostId: string, operation: string, name: string, body: Body): Promise<SimOpView> {
    const host = this.answering(hostId);
    this.count(operation);
    if (operation === 'readConfig') return this.readConfig(host, name, body);
    if (operation === 'listConfig') return this.listConfig(host, name);
    const opId = optionalString(body.opId, 'opId') ?? this.ops.newId();
    if (this.ops.isKnown(opId)) throw badRequest(`operation id ${opId} is already used`);
    const plan = planOperation(this.planContext, host, operation, name, body);
    const rule = this.rules.fire(operation, hostId, name);
    if (rule?.kind === 'unreachable') {
      await this.save([]);
      throw injectedFault(rule, operation, hostId);
    }
    const failure = rule && injectedError(rule, operation);
    const expectedMs = plan.expectedMs ?? this.delayOf(host, operation);
    if (expectedMs <= 0) {
      if (failure) {
        await this.save([]);
        throw new SimFault(500, failure);
      }
      const result = plan.commit(opId);
      await this.save([hostId, ...plan.hosts]);
      return instantView(hostId, operation, name, result ?? null, opId);
    }
    const view = this.ops.start({ id: opId, host: hostId, operation, vm: name, plan, expectedMs, failure });
    if (plan.begin || rule) await this.save([hostId, ...plan.hosts]);
    return view;
  }

  /** The view of an operation, for polling. */
  operation(hostId: string, opId: string): SimOpView {
    this.answering(hostId);
    return this.ops.view(hostId, opId);
  }

  /** Cancels an operation in flight: it is rolled back. Too late when it already finished. */
  async cancel(hostId: string, opId: string): Promise<SimCancelView> {
    this.answering(hostId);
    return this.ops.cancel(hostId, opId);
  }

  /** Rolls back everything in flight (the farm is shutting down) and saves. */
  async shutdown(): Promise<void> {
    await this.ops.abort({ code: 'cancelled', message: 'the sim shut down; the operation was rolled back', transient: true });
    await this.save([]);
  }

  private async readConfig(host: Host, name: string, body: Body): Promise<SimOpView> {
    await this.readPreamble(host, 'readConfig', name);
    const path = configPath(body);
    const vm = vmOf(host, name);
    return instantView(host.id, 'readConfig', name, { content: vm.configs.get(path) ?? null });
  }

  /** The paths of the config files written into a VM, sorted. */
  private async listConfig(host: Host, name: string): Promise<SimOpView> {
    await this.readPreamble(host, 'listConfig', name);
    const vm = vmOf(host, name);
    return instantView(host.id, 'listConfig', name, { paths: [...vm.configs.keys()].sort() });
  }

  private count(operation: string): void {
    this.opCounts[operation] = (this.opCounts[operation] ?? 0) + 1;
  }

  /** Applies failure rules and the delay of a read. */
  private async readPreamble(host: Host, operation: string, name: string): Promise<void> {
    const rule = this.rules.fire(operation, host.id, name);
    if (rule) {
      await this.save([]);
      throw injectedFault(rule, operation, host.id);
    }
    const ms = this.delayOf(host, operation);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }

  private delayOf(host: Host, operation: string): number {
    return host.delays[operation] ?? host.delays[ANY_OPERATION] ?? this.delays[operation] ?? this.delays[ANY_OPERATION] ?? 0;
  }

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

  private targetOf(body: Body): Host {
    if (typeof body.target !== 'string' || !body.target) throw badRequest('target is required');
    if (body.target.startsWith('http') && this.origin && !body.target.startsWith(`${this.origin}/`)) {
      throw refused(`target ${body.target} is not in this farm (${this.origin}); hosts can only reach hosts of their own farm`);
    }
    return this.answering(hostIdOf(body.target));
  }

  // ---- admin -------------------------------------------------------------------------------

  stats(): SimStats {
    return { requests: this.requests, operations: { ...this.opCounts }, opsInFlight: this.ops.count, writes: this.store.writes };
  }

  listHosts(): SimHostView[] {
    return [...this.hosts.values()].map(hostView);
  }

  hostDetail(hostId: string): SimHostDetail {
    return hostDetail(this.hostOf(hostId), (host, vm) => this.ops.busyWith(host.id, vm.name));
  }

  listVms(hostId?: string): SimVmView[] {
    const hosts = hostId ? [this.hostOf(hostId)] : [...this.hosts.values()];
    return hosts.flatMap((h) => [...h.vms.values()].map((vm) => this.vmView(h, vm)));
  }

  vmDetail(hostId: string, name: string): SimVmView {
    const host = this.hostOf(hostId);
    return this.vmView(host, this.vmDefinedOn(host, name));
  }

  async addHost(init: HostInit): Promise<SimHostView> {
    const host = hostFrom(init);
    if (this.hosts.has(host.id)) throw refused(`host ${host.id} already exists`);
    this.hosts.set(host.id, host);
    await this.save([host.id]);
    return hostView(host);
  }

  async updateHost(hostId: string, patch: Partial<Omit<HostInit, 'id'>>): Promise<SimHostView> {
    const host = this.hostOf(hostId);
    host.capacity = {
      cpus: patch.cpus === undefined ? host.capacity.cpus : positive(patch.cpus, 'cpus'),
      memoryMiB: patch.memoryMiB === undefined ? host.capacity.memoryMiB : positive(patch.memoryMiB, 'memoryMiB'),
      diskGiB: patch.diskGiB === undefined ? host.capacity.diskGiB : positive(patch.diskGiB, 'diskGiB'),
    };
    if (patch.baseLoad !== undefined) host.baseLoad = positive(patch.baseLoad, 'baseLoad', true);
    await this.save([hostId]);
    return hostView(host);
  }

  async removeHost(hostId: string): Promise<void> {
    this.hostOf(hostId);
    await this.abortTouching(hostId, `${hostId} was removed from the farm`);
    this.hosts.delete(hostId);
    await this.save([hostId]);
  }

  /** The host loses power: operations touching it roll back; its VMs end up powered off but defined. */
  async crash(hostId: string): Promise<SimHostView> {
    const host = this.hostOf(hostId);
    host.power = 'crashed';
    await this.abortTouching(hostId, `${hostId} crashed during the operation`);
    for (const vm of host.vms.values()) if (vm.state !== 'defined') vm.state = 'stopped';
    await this.save([hostId]);
    return hostView(host);
  }

  /** The host stops answering but keeps running: its VMs and operations carry on. */
  partition(hostId: string): Promise<SimHostView> {
    return this.setPower(hostId, 'partitioned');
  }

  rejoin(hostId: string): Promise<SimHostView> {
    return this.setPower(hostId, 'up');
  }

  getDelays(hostId?: string): Record<string, number> {
    return { ...(hostId ? this.hostOf(hostId).delays : this.delays) };
  }

  /** Merges delays (ms per operation, `*` for any; null removes one), on one host or globally. */
  async setDelays(delays: unknown, hostId?: string): Promise<Record<string, number>> {
    const target = hostId ? this.hostOf(hostId).delays : this.delays;
    mergeDelays(target, checkDelays(delays));
    await this.save(hostId ? [hostId] : []);
    return { ...target };
  }

  listFailures(): FailureRule[] {
    return this.rules.list();
  }

  async addFailure(init: FailureRuleInit): Promise<FailureRule> {
    const rule = this.rules.add(init);
    await this.save([]);
    return rule;
  }

  async removeFailure(id: string): Promise<void> {
    this.rules.remove(id);
    await this.save([]);
  }

  async clearFailures(): Promise<void> {
    this.rules.clear();
    await this.save([]);
  }

  /** Adds a VM vmflow does not know about, without any check. It has a uuid only when given one. */
  async addVm(hostId: string, init: SimUnknownVm): Promise<SimVmView> {
    const host = this.hostOf(hostId);
    if (typeof init?.name !== 'string' || !init.name) throw badRequest('name is required');
    if (host.vms.has(init.name)) throw refused(`${init.name} is already defined on ${hostId}`);
    const spec = {
      id: optionalString(init.uuid, 'uuid'),
      name: init.name,
      cpus: init.cpus ?? 1,
      memoryMiB: init.memoryMiB ?? 512,
      diskGiB: init.diskGiB ?? 10,
      mac: init.mac,
    };
    const vm = newVm(spec, 'running');
    host.vms.set(vm.name, vm);
    tamper(host, vm, { provisioned: true, ...init });
    await this.save([hostId]);
    return this.vmView(host, vm);
  }

  /**
   * Adds hosts and VMs vmflow does not know about in one go (large simulated fleets), with one
   * save: the same as `addHost` and `addVm` for each.
   */
  async addFleet(fleet: { hosts?: readonly HostInit[]; vms?: ReadonlyArray<SimUnknownVm & { host: string }> }): Promise<{ hosts: number; vms: number }> {
    const hosts = (fleet?.hosts ?? []).map(hostFrom);
    for (const host of hosts) if (this.hosts.has(host.id)) throw refused(`host ${host.id} already exists`);
    for (const host of hosts) this.hosts.set(host.id, host);
    const touched = new Set(hosts.map((h) => h.id));
    let vms = 0;
    try {
      for (const init of fleet?.vms ?? []) {
        const host = this.hostOf(init.host);
        if (typeof init.name !== 'string' || !init.name) throw badRequest('name is required');
        if (host.vms.has(init.name)) throw refused(`${init.name} is already defined on ${host.id}`);
        const { host: _host, ...patch } = init;
        const vm = newVm({ id: optionalString(init.uuid, 'uuid'), name: init.name, cpus: init.cpus ?? 1, memoryMiB: init.memoryMiB ?? 512, diskGiB: init.diskGiB ?? 10, mac: init.mac }, 'running');
        touched.add(host.id);
        host.vms.set(vm.name, vm);
        tamper(host, vm, { provisioned: true, ...patch });
        vms++;
      }
    } finally {
      // What was added before a refusal stays, as with addHost and addVm one by one: saved too.
      await this.save([...touched]);
    }
    return { hosts: hosts.length, vms };
  }

  /** Changes a VM behind vmflow's back, without any check. */
  async patchVm(hostId: string, name: string, patch: SimVmPatch): Promise<SimVmView> {
    const host = this.hostOf(hostId);
    const vm = this.vmDefinedOn(host, name);
    tamper(host, vm, patch ?? {});
    await this.save([hostId]);
    return this.vmView(host, vm);
  }

  /** Removes a VM and its disk behind vmflow's back. */
  async removeVm(hostId: string, name: string): Promise<void> {
    const host = this.hostOf(hostId);
    if (!host.vms.delete(name) && !host.volumes.delete(name)) throw notFound(`${name} is not on ${hostId}`);
    host.volumes.delete(name);
    await this.save([hostId]);
  }

  listOps(): SimOpView[] {
    return this.ops.list();
  }

  /** Forgets every host, delay and failure rule; operations in flight are rolled back. */
  async reset(): Promise<void> {
    for (const id of [...this.hosts.keys()]) await this.abortTouching(id, 'the sim was reset');
    this.hosts.clear();
    this.delays = {};
    this.rules.clear();
    await this.save();
  }

  private async setPower(hostId: string, power: 'up' | 'partitioned'): Promise<SimHostView> {
    const host = this.hostOf(hostId);
    host.power = power;
    await this.save([hostId]);
    return hostView(host);
  }

  private abortTouching(hostId: string, message: string): Promise<void> {
    return this.ops.abort({ code: 'unreachable', host: hostId, message, transient: true }, hostId);
  }

  private hostOf(hostId: string): Host {
    const host = this.hosts.get(hostId);
    if (!host) throw notFound(`the sim farm has no host ${hostId}`);
    return host;
  }

  /** The VM, for the admin and the status reads: 404 when the host does not have it. */
  private vmDefinedOn(host: Host, name: string): Vm {
    const vm = host.vms.get(name);
    if (!vm) throw notFound(`${name} is not defined on ${host.id}`);
    return vm;
  }

  private vmView(host: Host, vm: Vm): SimVmView {
    return vmView(host, vm, this.ops.busyWith(host.id, vm.name));
  }
}
