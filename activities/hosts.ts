// Driver activities: everything that touches a hypervisor. They take the host and container as
// values (not registry ids) so that an agent on the host can run them without the registry.
// Each checks the host's own view first, so a retry after a crash does not repeat a done step.
import { Context } from '@temporalio/activity';
import type { Driver, DriverContext, DriverRegistry, HostRef, ContainerSpec, HostStatus, ObservedContainer, Progress } from '../src/drivers/driver';
import { DriverError, HostUnreachableError, VmMissingError } from '../src/domain/errors';

export type PowerOp = 'start' | 'stop' | 'reboot' | 'suspend' | 'resume' | 'undefine' | 'deprovision';

export interface PowerInput {
  readonly host: HostRef;
  readonly name: string;
  readonly op: PowerOp;
  /** The container's registry id: a VM by that name with another uuid is not this container. */
  readonly uuid?: string;
}

/** A container's config files, and one file's content when one was asked for. */
export interface ContainerFileListing {
  readonly paths: string[];
  readonly content?: string | null;
}

/** Where a container was found, for reconcile and destroy of a flagged container. */
export interface Sighting {
  readonly host: HostRef;
  readonly seen: ObservedContainer;
}

/**
 * Runs a driver call with heartbeats (so cancellation and dead workers are noticed) and progress.
 * The first heartbeat goes after a second: a call that ends sooner (most do on a quick host)
 * costs the server no heartbeat at all, and progress is reported on the next beat.
 */
async function withDriverContext<T>(fn: (ctx: DriverContext) => Promise<T>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return fn({ progress: () => undefined });
  }
  const activity = ctx;
  let last: Progress | undefined;
  let beating = false;
  const beat = setInterval(() => {
    beating = true;
    activity.heartbeat(last);
  }, 1000);
  try {
    return await fn({
      progress: (p) => {
        last = p;
        if (beating) activity.heartbeat(p);
      },
      signal: activity.cancellationSignal,
    });
  } finally {
    clearInterval(beat);
  }
}

function firstAttempt(): boolean {
  try {
    return Context.current().info.attempt === 1;
  } catch {
    return false;
  }
}

/** True when the container is already where `op` would leave it. `seen` is a VM that exists. */
function alreadyDone(op: PowerOp, seen: ObservedContainer): boolean {
  switch (op) {
    case 'start':
    case 'resume':
      return seen.state === 'running';
    case 'stop':
      return seen.state === 'stopped' || seen.state === 'defined' || seen.state === 'crashed';
    case 'suspend':
      return seen.state === 'suspended';
    case 'undefine':
    case 'reboot':
      return false;
    case 'deprovision':
      return !seen.provisioned;
  }
}

/** A VM by this name is this container's own: same uuid, or one side does not know it. */
export function isOurs(seen: ObservedContainer, uuid: string | undefined): boolean {
  return !uuid || !seen.uuid || seen.uuid === uuid;
}

/**
 * Reads a container's state on its host. A failed read says nothing about the VM, so it is
 * always retried (never a permanent error): a transient read must not decide a VM's fate.
 */
async function observe(driver: Driver, host: HostRef, name: string, ctx: DriverContext): Promise<ObservedContainer | undefined> {
  try {
    return await driver.containerStatus(host, name, ctx);
  } catch (err) {
    if (err instanceof HostUnreachableError) throw err;
    throw new DriverError(driver.name, 'containerStatus', host.name, err instanceof Error ? err.message : String(err), false);
  }
}

/** The container's VM on `host`, or VmMissingError: steps decide "done" only from a VM they saw. */
async function present(driver: Driver, host: HostRef, name: string, uuid: string | undefined, ctx: DriverContext): Promise<ObservedContainer> {
  const seen = await observe(driver, host, name, ctx);
  if (!seen) throw new VmMissingError(host.name, name);
  if (!isOurs(seen, uuid)) throw new VmMissingError(host.name, name, `the VM there has uuid ${seen.uuid}, not ${uuid}`);
  return seen;
}

/**
 * Asks every host whether it has the container's VM (by name, with its uuid). Hosts that do not
 * answer are listed apart: "not seen" only counts where a host said so. Both lists sorted by host.
 */
export async function locate(drivers: DriverRegistry, hosts: readonly HostRef[], name: string, uuid?: string): Promise<{ found: Sighting[]; unanswered: string[] }> {
  const found: Sighting[] = [];
  const unanswered: string[] = [];
  await Promise.all(
    hosts.map(async (host) => {
      try {
        const seen = await drivers.forHost(host).containerStatus(host, name);
        if (seen && isOurs(seen, uuid)) found.push({ host, seen });
      } catch {
        unanswered.push(host.name);
      }
    }),
  );
  found.sort((a, b) => a.host.name.localeCompare(b.host.name));
  return { found, unanswered: unanswered.sort() };
}

export function createHostActivities(drivers: DriverRegistry) {
  return {
    async containerPower({ host, name, op, uuid }: PowerInput): Promise<void> {
      const driver = drivers.forHost(host);
      await withDriverContext(async (ctx) => {
        if (op === 'undefine' || op === 'deprovision') {
          // Removal: a VM that is not there (the host said so) is removed already.
          const seen = await observe(driver, host, name, ctx);
          if (!seen || !isOurs(seen, uuid) || alreadyDone(op, seen)) return;
        } else if (alreadyDone(op, await present(driver, host, name, uuid, ctx))) {
          return;
        }
        await driver[op](host, name, ctx);
      });
    },

    async containerShutdown({ host, name, timeoutMs, uuid }: { host: HostRef; name: string; timeoutMs: number; uuid?: string }): Promise<void> {
      const driver = drivers.forHost(host);
      await withDriverContext(async (ctx) => {
        if (alreadyDone('stop', await present(driver, host, name, uuid, ctx))) return;
        await driver.shutdown(host, name, timeoutMs, ctx);
      });
    },

    /** Fails with VmMissingError unless the container's VM is on `host`; returns what the host reports. */
    async containerVerify({ host, name, uuid }: { host: HostRef; name: string; uuid?: string }): Promise<ObservedContainer> {
      const driver = drivers.forHost(host);
      return withDriverContext((ctx) => present(driver, host, name, uuid, ctx));
    },

    /**
     * Asks every host whether it has the container's VM. Hosts that do not answer are listed
     * apart: "not seen" only counts where a host said so.
     */
    async containerLocate({ hosts, name, uuid }: { hosts: HostRef[]; name: string; uuid?: string }): Promise<{ found: Sighting[]; unanswered: string[] }> {
      return locate(drivers, hosts, name, uuid);
    },

    /**
     * Builds a container on its host in one call: define, provision its disk, start it when asked.
     * Each sub-step is skipped when the host shows it done, and reported as progress.
     */
    async containerBuild({ host, spec, start }: { host: HostRef; spec: ContainerSpec; start: boolean }): Promise<void> {
      const driver = drivers.forHost(host);
      await withDriverContext(async (ctx) => {
        const step = (name: string) => ({ ...ctx, progress: (p: Progress) => ctx.progress({ ...p, step: `${name}${p.step && p.step !== name ? `: ${p.step}` : ''}` }) });
        // On a first attempt nothing of it can exist yet (its name is registered to this command);
        // a retry looks at the host first and skips what is done.
        let seen = firstAttempt() ? undefined : await observe(driver, host, spec.name, ctx);
        if (seen && !isOurs(seen, spec.id)) throw new DriverError(driver.name, 'define', host.name, `another VM named ${spec.name} (uuid ${seen.uuid}) is there`);
        if (!seen) {
          ctx.progress({ step: 'define' });
          await driver.define(host, spec, step('define'));
          seen = { name: spec.name, uuid: spec.id, state: 'defined', cpus: spec.definition.cpus, memoryMiB: spec.definition.memoryMiB, diskGiB: spec.definition.diskGiB, provisioned: false };
        }
        if (!seen.provisioned) {
          ctx.progress({ step: 'provision' });
          await driver.provision(host, spec, step('provision'));
        }
        if (start && seen.state !== 'running') {
          ctx.progress({ step: 'start' });
          await driver.start(host, spec.name, step('start'));
        }
      });
    },

    async containerDefine({ host, spec }: { host: HostRef; spec: ContainerSpec }): Promise<void> {
      const driver = drivers.forHost(host);
      await withDriverContext(async (ctx) => {
        const seen = await observe(driver, host, spec.name, ctx);
        if (seen && isOurs(seen, spec.id)) return;
        await driver.define(host, spec, ctx);
      });
    },

    /**
     * Removes whatever exists of a container on a host: stop, undefine, wipe. A VM by that name
     * with another uuid is someone else's and stays. For compensations, destroy and the collector.
     */
    async containerRemove({ host, name, uuid }: { host: HostRef; name: string; uuid?: string }): Promise<void> {
      const driver = drivers.forHost(host);
      await withDriverContext(async (ctx) => {
        const seen = await observe(driver, host, name, ctx);
        if (!seen || !isOurs(seen, uuid)) return;
        if (!alreadyDone('stop', seen)) await driver.stop(host, name, ctx);
        if (seen.provisioned) await driver.deprovision(host, name, ctx);
        if (await observe(driver, host, name, ctx)) await driver.undefine(host, name, ctx);
      });
    },

    async containerClone(input: { source: HostRef; sourceName: string; target: HostRef; spec: ContainerSpec }): Promise<void> {
      const driver = drivers.forHost(input.target);
      await withDriverContext(async (ctx) => {
        const copy = await observe(driver, input.target, input.spec.name, ctx);
        if (copy && isOurs(copy, input.spec.id)) return;
        if (copy) throw new DriverError(driver.name, 'clone', input.target.name, `another VM named ${input.spec.name} (uuid ${copy.uuid}) is there`);
        await present(driver, input.source, input.sourceName, undefined, ctx);
        await driver.clone(input.source, input.sourceName, input.target, input.spec, ctx);
      });
    },

    /** Moves the container; done only when the target has it and the source no longer does. */
    async containerMigrate(input: { source: HostRef; target: HostRef; spec: ContainerSpec; live: boolean }): Promise<void> {
      const driver = drivers.forHost(input.source);
      await withDriverContext(async (ctx) => {
        const ours = (seen: ObservedContainer | undefined) => (seen && isOurs(seen, input.spec.id) ? seen : undefined);
        const onTarget = ours(await observe(driver, input.target, input.spec.name, ctx));
        const onSource = ours(await observe(driver, input.source, input.spec.name, ctx));
        if (onTarget && !onSource) return;
        if (!onSource) throw new VmMissingError(input.source.name, input.spec.name, `nor is it on ${input.target.name}`);
        await driver.migrate(input.source, input.target, input.spec, { live: input.live }, ctx);
      });
    },

    /**
     * The config files a container exposes and, when `path` is given, that file's content (null
     * when the container has no such file). A read: nothing on the host changes.
     */
    async containerFiles({ host, name, path }: { host: HostRef; name: string; path?: string }): Promise<ContainerFileListing> {
      const driver = drivers.forHost(host);
      return withDriverContext(async (ctx) => {
        const paths = await driver.listConfig(host, name, ctx);
        if (path === undefined) return { paths };
        return { paths, content: paths.includes(path) ? ((await driver.readConfig(host, name, path, ctx)) ?? null) : null };
      });
    },

    async hostStatus({ host }: { host: HostRef }): Promise<HostStatus> {
      return withDriverContext((ctx) => drivers.forHost(host).hostStatus(host, ctx));
    },
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;
