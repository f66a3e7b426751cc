// Driver for the simulated hypervisor farm (`vmflow sim`). A host's address is
// `http://127.0.0.1:PORT/hosts/<id>`; every call is one HTTP request to it, plus polls of
// `/ops/:id` while a long operation runs. Requests go through node:http on kept-alive
// connections: a quarter of fetch's CPU per request, which a worker pays on every driver call.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError, HostUnreachableError } from '../domain/errors';
import type { SimErrorBody, SimOpView, SimVmSpec } from '../sim/protocol';
import { hostIdOf } from '../sim/protocol';
import {
  NO_CONTEXT,
  type ContainerSpec,
  type Driver,
  type DriverContext,
  type HostRef,
  type HostStatus,
  type MigrateOptions,
  type ObservedContainer,
} from './driver';

export interface SimDriverOptions {
  /** A request that gets no answer within this many ms means the host is unreachable. Default 10 000. */
  readonly requestTimeoutMs?: number;
  /** Bounds of the poll interval of long operations (a twentieth of their expected time). Default 10..500 ms. */
  readonly minPollMs?: number;
  readonly maxPollMs?: number;
}

type Body = Record<string, unknown>;

export class SimDriver implements Driver {
  readonly name = 'sim';
  private readonly requestTimeoutMs: number;
  private readonly minPollMs: number;
  private readonly maxPollMs: number;
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  constructor(options: SimDriverOptions = {}) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.minPollMs = options.minPollMs ?? 10;
    this.maxPollMs = options.maxPollMs ?? 500;
  }

  hostStatus(host: HostRef, ctx: DriverContext = NO_CONTEXT): Promise<HostStatus> {
    return this.request<HostStatus>(host, 'hostStatus', 'GET', '', undefined, ctx);
  }

  /**
   * Many hosts' status in one request per farm (`POST /statuses`), each host answering on its
   * own: a host slower than `timeoutMs` or down is an error in its place, never the others'.
   */
  async hostStatuses(hosts: readonly HostRef[], ctx: DriverContext & { timeoutMs?: number } = NO_CONTEXT): Promise<Array<HostStatus | Error>> {
    const byFarm = new Map<string, number[]>();
    hosts.forEach((h, i) => {
      const farm = farmOf(h);
      byFarm.set(farm, [...(byFarm.get(farm) ?? []), i]);
    });
    const out: Array<HostStatus | Error> = new Array(hosts.length);
    await Promise.all(
      [...byFarm].map(async ([farm, indexes]) => {
        const group = indexes.map((i) => hosts[i]!);
        const ids = group.map((h) => hostIdOf(h.definition.address));
        const first = group[0]!;
        try {
          const answer = await this.request<{ hosts: Record<string, { status?: HostStatus; error?: SimErrorBody }> }>(
            { ...first, definition: { ...first.definition, address: farm } },
            'hostStatus',
            'POST',
            '/statuses',
            { hosts: ids, ...(ctx.timeoutMs ? { timeoutMs: ctx.timeoutMs } : {}) },
            ctx,
          );
          group.forEach((h, k) => {
            const a = answer.hosts[ids[k]!];
            out[indexes[k]!] = a?.status ?? this.toError(a?.error ?? { code: 'internal', message: 'no answer for this host' }, 'hostStatus', h, []);
          });
        } catch (err) {
          for (const i of indexes) out[i] = err as Error;
        }
      }),
    );
    return out;
  }

  containerStatus(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<ObservedContainer | undefined> {
    return this.request<ObservedContainer | undefined>(host, 'containerStatus', 'GET', `/vms/${enc(name)}`, undefined, ctx, [], true);
  }

  async define(host: HostRef, spec: ContainerSpec, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'define', spec.name, { spec: wireSpec(spec) }, ctx);
  }

  async undefine(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'undefine', name, {}, ctx);
  }

  async provision(host: HostRef, spec: ContainerSpec, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'provision', spec.name, { spec: wireSpec(spec) }, ctx);
  }

  async deprovision(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'deprovision', name, {}, ctx);
  }

  async start(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'start', name, {}, ctx);
  }

  async stop(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'stop', name, {}, ctx);
  }

  async shutdown(host: HostRef, name: string, timeoutMs: number, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'shutdown', name, { timeoutMs }, ctx);
  }

  async reboot(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'reboot', name, {}, ctx);
  }

  async suspend(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'suspend', name, {}, ctx);
  }

  async resume(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.operate(host, 'resume', name, {}, ctx);
  }

  async clone(
    source: HostRef,
    sourceName: string,
    target: HostRef,
    spec: ContainerSpec,
    ctx: DriverContext = NO_CONTEXT,
  ): Promise<void> {
    await this.operate(source, 'clone', sourceName, { target: target.definition.address, spec: wireSpec(spec) }, ctx, [target]);
  }

  async migrate(
    source: HostRef,
    target: HostRef,
    spec: ContainerSpec,
    options: MigrateOptions,
    ctx: DriverContext = NO_CONTEXT,
  ): Promise<void> {
    await this.operate(source, 'migrate', spec.name, { target: target.definition.address, live: options.live }, ctx, [target]);
  }

  /** The farm's admin API plays the host's BMC: a fenced host loses power (its VMs stop). */
  async fence(host: HostRef): Promise<void> {
    const base = baseOf(host);
    const i = base.lastIndexOf('/hosts/');
    const res = await fetch(`${base.slice(0, i)}/admin/hosts/${enc(hostIdOf(base))}/crash`, { method: 'POST', signal: AbortSignal.timeout(this.requestTimeoutMs) });
    if (!res.ok) throw new DriverError('sim', 'fence', host.name, `the BMC answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`, res.status >= 500 ? false : true);
  }

  async applyConfig(
    host: HostRef,
    name: string,
    path: string,
    content: string,
    ctx: DriverContext = NO_CONTEXT,
  ): Promise<void> {
    await this.operate(host, 'applyConfig', name, { path, content }, ctx);
  }

  async readConfig(host: HostRef, name: string, path: string, ctx: DriverContext = NO_CONTEXT): Promise<string | undefined> {
    const result = (await this.operate(host, 'readConfig', name, { path }, ctx)) as { content: string | null } | null;
    return result?.content ?? undefined;
  }

  async listConfig(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<string[]> {
    const result = (await this.operate(host, 'listConfig', name, {}, ctx)) as { paths: string[] } | null;
    return result?.paths ?? [];
  }

  async close(): Promise<void> {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /**
   * Runs one operation: a POST that answers at once when the operation has no delay; otherwise
   * polls it, reporting progress, and cancels it (the sim rolls it back) when ctx.signal aborts.
   */
  private async operate(
    host: HostRef,
    operation: string,
    vm: string,
    body: Body,
    ctx: DriverContext,
    others: readonly HostRef[] = [],
  ): Promise<unknown> {
    // Our own id lets us cancel even when the abort comes before the POST's answer.
    const opId = randomUUID();
    let view: SimOpView;
    try {
      view = await this.request<SimOpView>(host, operation, 'POST', `/vms/${enc(vm)}/${operation}`, { ...body, opId }, ctx, others);
    } catch (err) {
      if (ctx.signal?.aborted) await this.cancel(host, opId);
      throw err;
    }
    if (!view.done) view = await this.follow(host, operation, view, ctx, others);
    if (view.error) throw this.toError(view.error, operation, host, others);
    return view.result;
  }

  private async follow(
    host: HostRef,
    operation: string,
    started: SimOpView,
    ctx: DriverContext,
    others: readonly HostRef[],
  ): Promise<SimOpView> {
    const interval = Math.min(this.maxPollMs, Math.max(this.minPollMs, started.expectedMs / 20));
    let view = started;
    ctx.progress({ step: operation, fraction: view.fraction });
    while (!view.done) {
      try {
        await sleep(interval, undefined, ctx.signal ? { signal: ctx.signal } : undefined);
        view = await this.request<SimOpView>(host, operation, 'GET', `/ops/${enc(view.id)}`, undefined, ctx, others);
      } catch (err) {
        if (!ctx.signal?.aborted) throw err;
        const last = await this.cancel(host, view.id);
        // Too late to cancel: the operation finished, so its outcome stands.
        if (last && !last.cancelled && last.done && !last.error) return last;
        throw abortError(ctx.signal);
      }
      ctx.progress({ step: operation, fraction: view.fraction });
    }
    return view;
  }

  /** Asks the sim to roll an operation back; undefined when that could not be asked. */
  private async cancel(host: HostRef, opId: string): Promise<(SimOpView & { cancelled: boolean }) | undefined> {
    try {
      return await this.request(host, 'cancel', 'DELETE', `/ops/${enc(opId)}`, undefined, NO_CONTEXT);
    } catch {
      return undefined;
    }
  }

  private async request<T>(
    host: HostRef,
    operation: string,
    method: string,
    path: string,
    body: Body | undefined,
    ctx: DriverContext,
    others: readonly HostRef[] = [],
    /** Answer undefined when the host does not know the container. */
    missingIsUndefined = false,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let status: number;
    let text: string;
    try {
      ({ status, text } = await this.send(`${baseOf(host)}${path}`, method, payload, signal));
    } catch (err) {
      if (ctx.signal?.aborted) throw abortError(ctx.signal);
      if (timeout.aborted) throw new HostUnreachableError(host.name, `no answer within ${this.requestTimeoutMs} ms`);
      throw new HostUnreachableError(host.name, networkCause(err));
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      throw new DriverError('sim', operation, host.name, `answered HTTP ${status} with something that is not JSON`, false);
    }
    if (status >= 200 && status < 300) return parsed as T;
    const error = (parsed as { error?: SimErrorBody } | null)?.error ?? {
      code: 'internal' as const,
      message: `answered HTTP ${status} without an error body`,
      transient: true,
    };
    if (missingIsUndefined && error.code === 'not_found') return undefined as T;
    throw this.toError(error, operation, host, others);
  }

  /**
   * One HTTP request, its answer read whole. A kept-alive connection the sim closed just as it was
   * reused fails before the sim read anything: that request goes again once, on a new connection.
   */
  private async send(url: string, method: string, payload: string | undefined, signal: AbortSignal): Promise<{ status: number; text: string }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sendOnce(url, method, payload, signal);
      } catch (err) {
        if (attempt > 1 || !(err as { reusedSocket?: boolean }).reusedSocket || (err as NodeJS.ErrnoException).code !== 'ECONNRESET' || signal.aborted) throw err;
      }
    }
  }

  private sendOnce(url: string, method: string, payload: string | undefined, signal: AbortSignal): Promise<{ status: number; text: string }> {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(
        target,
        {
          method,
          agent: secure ? this.agents.https : this.agents.http,
          signal,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
      req.end(payload);
    });
  }

  private toError(error: SimErrorBody, operation: string, host: HostRef, others: readonly HostRef[]): Error {
    const about = (error.host && [host, ...others].find((h) => hostIdOf(h.definition.address) === error.host)?.name) ?? error.host ?? host.name;
    if (error.code === 'unreachable' || error.code === 'unknown_host') return new HostUnreachableError(about, error.message);
    return new DriverError('sim', operation, host.name, error.message, !error.transient);
  }
}

/** The farm a host is in: its address without `/hosts/<id>`. */
function farmOf(host: HostRef): string {
  const base = baseOf(host);
  const i = base.lastIndexOf('/hosts/');
  return i < 0 ? base : base.slice(0, i);
}

function baseOf(host: HostRef): string {
  return host.definition.address.replace(/\/+$/, '');
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function wireSpec(spec: ContainerSpec): SimVmSpec {
  const d = spec.definition;
  return {
    id: spec.id,
    name: spec.name,
    cpus: d.cpus,
    memoryMiB: d.memoryMiB,
    diskGiB: d.diskGiB,
    mac: d.network?.mac,
    ip: d.network?.ip,
    image: d.image,
  };
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error(`cancelled${reason === undefined ? '' : `: ${String(reason)}`}`);
  err.name = 'AbortError';
  return err;
}

/** `ECONNREFUSED`, or the cause fetch wraps in its bare "fetch failed". */
function networkCause(err: unknown): string {
  const own = (err as { code?: string })?.code;
  if (own) return own;
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}
