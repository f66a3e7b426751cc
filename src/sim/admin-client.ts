// Typed client of the sim farm's admin API (/admin), for tests and the CLI.
import type {
  FailureRule,
  FailureRuleInit,
  HostInit,
  SimErrorBody,
  SimHostDetail,
  SimHostView,
  SimOpView,
  SimStats,
  SimUnknownVm,
  SimVmPatch,
  SimVmView,
} from './protocol';

/** Thrown when the admin API answers with an error. */
export class SimAdminError extends Error {
  override readonly name = 'SimAdminError';
  constructor(
    readonly status: number,
    readonly body: SimErrorBody,
    readonly request: string,
  ) {
    super(`${request}: ${body.message} (${body.code}, HTTP ${status})`);
  }
}

export type DelayMap = Record<string, number>;

export class SimAdmin {
  readonly url: string;

  /** `url` is the farm's base URL, `http://127.0.0.1:PORT`. */
  constructor(url: string) {
    this.url = url.replace(/\/+$/, '');
  }

  /** The address a HypervisorDefinition uses for host `id`. */
  hostAddress(id: string): string {
    return `${this.url}/hosts/${encodeURIComponent(id)}`;
  }

  health(): Promise<{ ok: true; hosts: number }> {
    return this.call('GET', 'health');
  }

  stats(): Promise<SimStats> {
    return this.call('GET', 'stats');
  }

  /** Forgets every host, delay and failure rule. */
  async reset(): Promise<void> {
    await this.call('POST', 'reset');
  }

  hosts(): Promise<SimHostView[]> {
    return this.call('GET', 'hosts');
  }

  host(id: string): Promise<SimHostDetail> {
    return this.call('GET', `hosts/${enc(id)}`);
  }

  addHost(init: HostInit): Promise<SimHostView> {
    return this.call('POST', 'hosts', init);
  }

  /** Adds many hosts and VMs (each VM naming its host) with one save: a large fleet in one call. */
  addFleet(fleet: { hosts?: readonly HostInit[]; vms?: ReadonlyArray<SimUnknownVm & { host: string }> }): Promise<{ hosts: number; vms: number }> {
    return this.call('POST', 'fleet', fleet);
  }

  /** Changes a host's capacity or base load. */
  updateHost(id: string, patch: Partial<Omit<HostInit, 'id'>>): Promise<SimHostView> {
    return this.call('PATCH', `hosts/${enc(id)}`, patch);
  }

  async removeHost(id: string): Promise<void> {
    await this.call('DELETE', `hosts/${enc(id)}`);
  }

  /** The host loses power: it stops answering; when it rejoins its VMs are stopped but still defined. */
  crash(id: string): Promise<SimHostView> {
    return this.call('POST', `hosts/${enc(id)}/crash`);
  }

  /** The host stops answering; its VMs keep running. */
  partition(id: string): Promise<SimHostView> {
    return this.call('POST', `hosts/${enc(id)}/partition`);
  }

  rejoin(id: string): Promise<SimHostView> {
    return this.call('POST', `hosts/${enc(id)}/rejoin`);
  }

  /** Delays in ms per operation (`*` = any), on `hostId` or globally. */
  delays(hostId?: string): Promise<DelayMap> {
    return this.call('GET', hostId ? `hosts/${enc(hostId)}/delays` : 'delays');
  }

  /** Merges delays; null removes one. A host's own delays win over global ones. */
  setDelays(delays: Record<string, number | null>, hostId?: string): Promise<DelayMap> {
    return this.call('PUT', hostId ? `hosts/${enc(hostId)}/delays` : 'delays', delays);
  }

  /** VMs of one host, or of every host. */
  vms(hostId?: string): Promise<SimVmView[]> {
    return this.call('GET', hostId ? `vms?host=${enc(hostId)}` : 'vms');
  }

  /** One VM, or undefined when the host does not have it. */
  async vm(hostId: string, name: string): Promise<SimVmView | undefined> {
    try {
      return await this.call<SimVmView>('GET', `hosts/${enc(hostId)}/vms/${enc(name)}`);
    } catch (err) {
      if (err instanceof SimAdminError && err.body.code === 'not_found') return undefined;
      throw err;
    }
  }

  /** Adds a VM vmflow never created (defaults: running, provisioned, 1 cpu, 512 MiB, 10 GiB). */
  addVm(hostId: string, vm: SimUnknownVm): Promise<SimVmView> {
    return this.call('POST', `hosts/${enc(hostId)}/vms`, vm);
  }

  /** Changes a VM behind vmflow's back (its state, its disk, its resources). */
  setVm(hostId: string, name: string, patch: SimVmPatch): Promise<SimVmView> {
    return this.call('PATCH', `hosts/${enc(hostId)}/vms/${enc(name)}`, patch);
  }

  /** Removes a VM and its disk behind vmflow's back. */
  async removeVm(hostId: string, name: string): Promise<void> {
    await this.call('DELETE', `hosts/${enc(hostId)}/vms/${enc(name)}`);
  }

  failures(): Promise<FailureRule[]> {
    return this.call('GET', 'failures');
  }

  /** Makes matching calls fail; see FailureRuleInit. */
  addFailure(rule: FailureRuleInit): Promise<FailureRule> {
    return this.call('POST', 'failures', rule);
  }

  async removeFailure(id: string): Promise<void> {
    await this.call('DELETE', `failures/${enc(id)}`);
  }

  async clearFailures(): Promise<void> {
    await this.call('DELETE', 'failures');
  }

  /** Operations in flight. */
  ops(): Promise<SimOpView[]> {
    return this.call('GET', 'ops');
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const request = `${method} /admin/${path}`;
    const res = await fetch(`${this.url}/admin/${path}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new SimAdminError(res.status, { code: 'internal', message: `not JSON: ${text.slice(0, 200)}` }, request);
    }
    if (!res.ok) {
      const error = (parsed as { error?: SimErrorBody } | undefined)?.error;
      throw new SimAdminError(res.status, error ?? { code: 'internal', message: text.slice(0, 200) }, request);
    }
    return parsed as T;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
