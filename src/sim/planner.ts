// What each operation does to the farm's hosts and VMs. Planning checks the preconditions (a
// refusal is thrown at once) and returns a Plan: what it holds while in flight and how it commits,
// re-checking first, since the farm may have changed meanwhile.
import type { ObservedState } from '../drivers/driver';
import { badRequest, refused, SimFault } from './errors';
import { configPath, positive, specOf, type Body } from './input';
import { fits, HOLDS_MEMORY, newVm, POWERED_OFF, vmOf, type Host, type Reservation, type Vm } from './model';

/** What an operation will do, built after its preconditions passed. */
export interface Plan {
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

/** What planning needs from the rest of the farm. */
export interface PlanContext {
  /** Refuses, as transient, while an operation in flight holds `name` on `host`. */
  notBusy(host: Host, name: string): void;
  /** The host a clone or migration goes to, from the body's `target`; it must answer. */
  targetOf(body: Body): Host;
}

type Planner = (ctx: PlanContext, host: Host, name: string, body: Body) => Plan;

/** Plans `operation` on VM `name` of `host`; throws the refusal when it is not possible now. */
export function planOperation(ctx: PlanContext, host: Host, operation: string, name: string, body: Body): Plan {
  const planner = PLANNERS.get(operation);
  if (!planner) throw new SimFault(404, { code: 'bad_request', message: `unknown operation ${operation}` });
  return planner(ctx, host, name, body);
}

/** A plan on one VM of one host whose `check` runs now and again at commit. */
function onOneVm<T>(host: Host, name: string, check: () => T, apply: (checked: T) => unknown, extra: Partial<Plan> = {}): Plan {
  check();
  return { busy: [[host.id, name]], hosts: [host.id], ...extra, commit: () => apply(check()) };
}

const define: Planner = (ctx, host, name, body) => {
  const spec = specOf(body, name);
  const check = () => {
    ctx.notBusy(host, name);
    if (host.vms.has(name)) throw refused(`${name} is already defined on ${host.id}`);
  };
  return onOneVm(host, name, check, () => void host.vms.set(name, newVm(spec, 'defined')));
};

const undefine: Planner = (ctx, host, name) => {
  const check = () => {
    const vm = vmOf(host, name);
    ctx.notBusy(host, name);
    if (HOLDS_MEMORY.has(vm.state)) throw refused(`${name} is ${vm.state}; stop it before undefining it`);
  };
  return onOneVm(host, name, check, () => void host.vms.delete(name));
};

const provision: Planner = (ctx, host, name, body) => {
  const spec = specOf(body, name);
  const check = () => {
    ctx.notBusy(host, name);
    if (host.volumes.has(name)) throw refused(`${name} already has a disk on ${host.id}`);
    fits(host, name, 0, spec.diskGiB);
  };
  return onOneVm(host, name, check, () => void host.volumes.set(name, { diskGiB: spec.diskGiB, image: spec.image }), {
    reserve: [{ host, memoryMiB: 0, diskGiB: spec.diskGiB }],
  });
};

const deprovision: Planner = (ctx, host, name) => {
  const check = () => {
    ctx.notBusy(host, name);
    if (!host.volumes.has(name)) throw refused(`${name} has no disk on ${host.id}`);
    const vm = host.vms.get(name);
    if (vm && HOLDS_MEMORY.has(vm.state)) throw refused(`${name} is ${vm.state}; stop it before removing its disk`);
  };
  return onOneVm(host, name, check, () => void host.volumes.delete(name));
};

const start: Planner = (ctx, host, name) => {
  const check = () => {
    const vm = vmOf(host, name);
    ctx.notBusy(host, name);
    if (vm.state === 'running') throw refused(`${name} is already running`);
    if (vm.state === 'suspended') throw refused(`${name} is suspended; resume it instead`);
    if (vm.state === 'migrating') throw refused(`${name} is the target copy of a live migration`);
    if (!host.volumes.has(name)) throw refused(`${name} has no disk; provision it first`);
    fits(host, name, vm.memoryMiB, 0);
    return vm;
  };
  const { memoryMiB } = vmOf(host, name);
  return onOneVm(host, name, check, (vm) => void (vm.state = 'running'), { reserve: [{ host, memoryMiB, diskGiB: 0 }] });
};

/** A plain state change from one of `from` to `to`; `why` explains a refusal better than the default. */
function transition(from: readonly ObservedState[], to: ObservedState, why?: (vm: Vm, name: string) => string | undefined): Planner {
  return (ctx, host, name) => {
    const check = () => {
      const vm = vmOf(host, name);
      ctx.notBusy(host, name);
      if (!from.includes(vm.state)) throw refused(why?.(vm, name) ?? `${name} is ${vm.state}, not ${from.join(' or ')}`);
      return vm;
    };
    return onOneVm(host, name, check, (vm) => {
      vm.state = to;
      return {};
    });
  };
}

const stop = transition(['running', 'suspended', 'crashed'], 'stopped', (vm, name) =>
  POWERED_OFF.has(vm.state) ? `${name} is not running (it is ${vm.state})` : undefined,
);

const gracefulShutdown = transition(['running'], 'stopped', (vm, name) =>
  vm.state === 'suspended' ? `${name} is suspended; resume it or stop it` : undefined,
);

const shutdown: Planner = (ctx, host, name, body) => {
  const timeoutMs = positive(body.timeoutMs ?? 0, 'timeoutMs', true);
  const vm = vmOf(host, name);
  const plan = gracefulShutdown(ctx, host, name, body);
  if (!vm.ignoresShutdown) return plan;
  // The guest ignores the request: it is forced off once the timeout has passed.
  return { ...plan, expectedMs: timeoutMs, commit: (id) => ({ ...(plan.commit(id) as object), forced: true }) };
};

const applyConfig: Planner = (_ctx, host, name, body) => {
  const path = configPath(body);
  if (typeof body.content !== 'string') throw badRequest('content must be a string');
  const content = body.content;
  const check = () => {
    const vm = vmOf(host, name);
    if (vm.state === 'migrating') throw refused(`${name} on ${host.id} is the target copy of a live migration`);
    return vm;
  };
  check();
  return { busy: [], hosts: [host.id], commit: () => void check().configs.set(path, content) };
};

const clone: Planner = (ctx, source, name, body) => {
  const target = ctx.targetOf(body);
  const spec = specOf(body);
  const copy = spec.name;
  const check = () => {
    const vm = vmOf(source, name);
    ctx.notBusy(source, name);
    if (!POWERED_OFF.has(vm.state)) throw refused(`${name} is ${vm.state}; only a stopped container can be cloned`);
    const disk = source.volumes.get(name);
    if (!disk) throw refused(`${name} has no disk to copy; provision it first`);
    ctx.notBusy(target, copy);
    if (target.vms.has(copy)) throw refused(`${copy} is already defined on ${target.id}`);
    if (target.volumes.has(copy)) throw refused(`${target.id} already has a disk named ${copy}`);
    fits(target, copy, 0, spec.diskGiB);
    return { vm, disk };
  };
  check();
  return {
    busy: [
      [source.id, name],
      [target.id, copy],
    ],
    reserve: [{ host: target, memoryMiB: 0, diskGiB: spec.diskGiB }],
    hosts: [source.id, target.id],
    commit: () => {
      const { vm, disk } = check();
      // The copy is a new VM: it takes its own spec's identity, not the source's.
      target.vms.set(copy, newVm(spec, 'stopped', new Map(vm.configs)));
      target.volumes.set(copy, { diskGiB: spec.diskGiB, image: disk.image });
    },
  };
};

const migrate: Planner = (ctx, source, name, body) => {
  const target = ctx.targetOf(body);
  if (typeof body.live !== 'boolean') throw badRequest('live must be true or false');
  const live = body.live;
  if (target === source) throw refused(`${name} is already on ${source.id}`);
  const check = () => {
    const vm = vmOf(source, name);
    ctx.notBusy(source, name);
    if (live && vm.state !== 'running') throw refused(`cannot migrate ${name} live: it is ${vm.state}, not running`);
    if (!live && !POWERED_OFF.has(vm.state)) throw refused(`cannot migrate ${name} cold: it is ${vm.state}; stop it first`);
    ctx.notBusy(target, name);
    if (target.vms.has(name)) throw refused(`${name} is already defined on ${target.id}`);
    if (target.volumes.has(name)) throw refused(`${target.id} already has a disk named ${name}`);
    const disk = source.volumes.get(name);
    fits(target, name, live ? vm.memoryMiB : 0, disk?.diskGiB ?? 0);
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
    reserve: live ? [] : [{ host: target, memoryMiB: 0, diskGiB: disk?.diskGiB ?? 0 }],
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
      // The VM moves whole: it keeps its uuid, configs and resources.
      target.vms.set(name, { ...now.vm, configs: new Map(now.vm.configs), state: live ? 'running' : now.vm.state, migration: undefined });
      if (now.disk) target.volumes.set(name, { diskGiB: now.disk.diskGiB, image: now.disk.image });
    },
    rollback: dropCopy,
  };
};

const PLANNERS: ReadonlyMap<string, Planner> = new Map([
  ['define', define],
  ['undefine', undefine],
  ['provision', provision],
  ['deprovision', deprovision],
  ['start', start],
  ['stop', stop],
  ['shutdown', shutdown],
  ['reboot', transition(['running'], 'running')],
  ['suspend', transition(['running'], 'suspended')],
  ['resume', transition(['suspended'], 'running')],
  ['applyConfig', applyConfig],
  ['clone', clone],
  ['migrate', migrate],
]);
