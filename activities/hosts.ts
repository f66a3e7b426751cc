// Driver activities: everything that touches a hypervisor. They take the host and container as
// values (not registry ids) so that an agent on the host can run them without the registry.
// Each checks the host's own view first, so a retry after a crash does not repeat a done step.
import { Context } from '@temporalio/activity';
import type { DriverContext, DriverRegistry, HostRef, ContainerSpec, HostStatus, ObservedContainer, Progress } from '../src/drivers/driver';
import { guardAll } from './guard';

export type PowerOp = 'start' | 'stop' | 'reboot' | 'suspend' | 'resume' | 'undefine' | 'deprovision';

export interface PowerInput {
  readonly host: HostRef;
  readonly name: string;
  readonly op: PowerOp;
}

/** Runs a driver call with heartbeats (so cancellation and dead workers are noticed) and progress. */
async function withDriverContext<T>(fn: (ctx: DriverContext) => Promise<T>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return fn({ progress: () => undefined });
  }
  const activity = ctx;
  let last: Progress | undefined;
  const beat = setInterval(() => activity.heartbeat(last), 1000);
  try {
    return await fn({
      progress: (p) => {
        last = p;
        activity.heartbeat(p);
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

/** True when the container is already where `op` would leave it. */
function alreadyDone(op: PowerOp, seen: ObservedContainer | undefined): boolean {
  switch (op) {
    case 'start':
    case 'resume':
      return seen?.state === 'running';
    case 'stop':
      return !seen || seen.state === 'stopped' || seen.state === 'defined' || seen.state === 'crashed';
    case 'suspend':
      return seen?.state === 'suspended';
    case 'undefine':
      return !seen;
    case 'deprovision':
      return !seen || !seen.provisioned;
    case 'reboot':
      return false;
  }
}

export function createHostActivities(drivers: DriverRegistry) {
  return guardAll({
    async containerPower({ host, name, op }: PowerInput): Promise<void> {
      const driver = drivers.forHost(host);
      await withDriverContext(async (ctx) => {
        if (alreadyDone(op, await driver.containerStatus(host, name, ctx))) return;
        await driver[op](host, name, ctx);
      });
    },

    async containerShutdown({ host, name, timeoutMs }: { host: HostRef; name: string; timeoutMs: number }): Promise<void> {
      const driver = drivers.forHost(host);
      await withDriverContext(async (ctx) => {
        if (alreadyDone('stop', await driver.containerStatus(host, name, ctx))) return;
        await driver.shutdown(host, name, timeoutMs, ctx);
      });
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
        let seen = firstAttempt() ? undefined : await driver.containerStatus(host, spec.name, ctx);
        if (!seen) {
          ctx.progress({ step: 'define' });
          await driver.define(host, spec, step('define'));
          seen = { name: spec.name, state: 'defined', cpus: spec.definition.cpus, memoryMiB: spec.definition.memoryMiB, diskGiB: spec.definition.diskGiB, provisioned: false };
        }
        if (!seen?.provisioned) {
          ctx.progress({ step: 'provision' });
          await driver.provision(host, spec, step('provision'));
        }
        if (start && seen?.state !== 'running') {
          ctx.progress({ step: 'start' });
          await driver.start(host, spec.name, step('start'));
        }
      });
    },

    async containerDefine({ host, spec }: { host: HostRef; spec: ContainerSpec }): Promise<void> {
      const driver = drivers.forHost(host);
      await withDriverContext(async (ctx) => {
        if (await driver.containerStatus(host, spec.name, ctx)) return;
        await driver.define(host, spec, ctx);
      });
    },


    /** Removes whatever exists of a container on a host: stop, undefine, wipe. For compensations and the collector. */
    async containerRemove({ host, name }: { host: HostRef; name: string }): Promise<void> {
      const driver = drivers.forHost(host);
      await withDriverContext(async (ctx) => {
        const seen = await driver.containerStatus(host, name, ctx);
        if (!seen) return;
        if (!alreadyDone('stop', seen)) await driver.stop(host, name, ctx);
        if (seen.provisioned) await driver.deprovision(host, name, ctx);
        if (await driver.containerStatus(host, name, ctx)) await driver.undefine(host, name, ctx);
      });
    },

    async containerClone(input: { source: HostRef; sourceName: string; target: HostRef; spec: ContainerSpec }): Promise<void> {
      const driver = drivers.forHost(input.target);
      await withDriverContext(async (ctx) => {
        if (await driver.containerStatus(input.target, input.spec.name, ctx)) return;
        await driver.clone(input.source, input.sourceName, input.target, input.spec, ctx);
      });
    },

    async containerMigrate(input: { source: HostRef; target: HostRef; spec: ContainerSpec; live: boolean }): Promise<void> {
      const driver = drivers.forHost(input.source);
      await withDriverContext(async (ctx) => {
        const onTarget = await driver.containerStatus(input.target, input.spec.name, ctx);
        const onSource = await driver.containerStatus(input.source, input.spec.name, ctx);
        if (onTarget && !onSource) return;
        await driver.migrate(input.source, input.target, input.spec, { live: input.live }, ctx);
      });
    },


    async hostStatus({ host }: { host: HostRef }): Promise<HostStatus> {
      return withDriverContext((ctx) => drivers.forHost(host).hostStatus(host, ctx));
    },


  });
}

export type HostActivities = ReturnType<typeof createHostActivities>;
