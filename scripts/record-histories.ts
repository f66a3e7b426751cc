// Records the history of every workflow type, run on a real stack, into
// test/histories/v<package version>/ for the replay test. Run it once per release, before the
// release's workflow code changes again:
//   npx tsx scripts/record-histories.ts
// Histories of released versions are never re-recorded or edited: the replay test holds every
// later version to them (see "Upgrading" in the README).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cycleSettingsSignal, pauseCyclesUpdate } from '../src/domain/messages';
import { TASK_QUEUE } from '../src/domain/names';
import { temporalCli } from '../src/temporal/binaries';
import { startStack, type Stack } from '../test/support/stack';
import type { CollectorOptions, MonitorOptions } from '../workflows/monitor';

const VERSION: string = require('../package.json').version;
const DIR = path.join(__dirname, '..', 'test', 'histories', `v${VERSION}`);
const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
const MONITOR: MonitorOptions = { downAfter: 2, contactEverySeconds: 60, pollTimeoutMs: 2000 };
const COLLECT: CollectorOptions = { claimTtlSeconds: 900, orphanGraceSeconds: 3600 };

function record(stack: Stack, name: string, workflowId: string, runId?: string): void {
  // The CLI's JSON export is the format historyFromJSON reads back.
  const args = ['workflow', 'show', '--workflow-id', workflowId, '--address', stack.temporal.address, '--output', 'json', ...(runId ? ['--run-id', runId] : [])];
  const file = path.join(DIR, `${name}.json`);
  writeFileSync(file, execFileSync(temporalCli(), args, { maxBuffer: 64 * 1024 * 1024 }));
  console.log(`recorded ${path.relative(process.cwd(), file)}  (${workflowId})`);
}

async function firstOf(stack: Stack, query: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    for await (const w of stack.client.temporal.workflow.list({ query })) return w.workflowId;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no workflow matches ${query}`);
}

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }] });
  try {
    const c = stack.client;
    const temporal = c.temporal;
    record(stack, 'hypervisor-add', await firstOf(stack, `WorkflowType = 'addHypervisor'`));

    // Every container command, in an order each one is allowed in.
    const commands: Array<[string, () => Promise<{ workflowId: string; result(): Promise<unknown> }>]> = [
      ['create', () => c.containers.create('r1', { definition: web, hint: 'hv-1' })],
      ['reboot', () => c.containers.reboot('r1')],
      ['suspend', () => c.containers.suspend('r1')],
      ['resume', () => c.containers.resume('r1')],
      ['shutdown', () => c.containers.shutdown('r1')],
      ['update', () => c.containers.update('r1', { definition: { memoryMiB: 2048 } })],
      ['start', () => c.containers.start('r1')],
      ['migrate', () => c.containers.migrate('r1', { target: 'hv-2' })],
      ['stop', () => c.containers.stop('r1')],
      ['clone', () => c.containers.clone('r1', { name: 'r2' })],
      ['reconcile', () => c.containers.reconcile('r1')],
    ];
    for (const [name, start] of commands) {
      const h = await start();
      await h.result();
      record(stack, `container-${name}`, h.workflowId);
    }
    const destroy = await c.containers.destroy('r2');
    await destroy.result();
    record(stack, 'container-destroy', destroy.workflowId);
    const r2 = temporal.workflow.getHandle('container/r2');
    await r2.result();
    record(stack, 'container-entity', r2.workflowId);

    // Environment commands and their entity, from create to destroy.
    await (await c.environments.create('renv')).result();
    await (await c.environments.add('renv', { create: { name: 'rw1', definition: web } })).result();
    const add = await c.environments.add('renv', { create: { name: 'rw2', definition: web } });
    await add.result();
    record(stack, 'environment-add', add.workflowId);
    await c.containers.files('rw1');
    record(stack, 'container-files', await firstOf(stack, `WorkflowType = 'readContainerFiles'`));
    const envDestroy = await c.environments.destroy('renv');
    await envDestroy.result();
    record(stack, 'environment-destroy', envDestroy.workflowId);
    const renv = temporal.workflow.getHandle('environment/renv');
    await renv.result();
    record(stack, 'environment-entity', renv.workflowId);

    // A drain of the host r1 is on, then a crash of the host it went to: failover.
    await (await c.containers.start('r1')).result();
    const drain = await c.hypervisors.drain('hv-2');
    await temporal.workflow.getHandle(drain.workflowId!).result();
    record(stack, 'hypervisor-drain', drain.workflowId!);
    await c.hypervisors.undrain('hv-2');
    const collector = await temporal.workflow.execute('collectorCycle', { taskQueue: TASK_QUEUE, workflowId: 'record-collector', args: [COLLECT] });
    void collector;
    record(stack, 'collector-cycle', 'record-collector');
    const r1 = await c.containers.get('r1');
    const crashed = (await stack.services.registry.get(r1.parentId!)).name;
    await stack.sim.admin.crash(crashed);
    for (let i = 1; i <= MONITOR.downAfter; i++) await temporal.workflow.execute('monitorCycle', { taskQueue: TASK_QUEUE, workflowId: `record-monitor-${i}`, args: [MONITOR] });
    record(stack, 'monitor-cycle', 'record-monitor-1');
    record(stack, 'monitor-cycle-down', `record-monitor-${MONITOR.downAfter}`);
    const failover = temporal.workflow.getHandle(await firstOf(stack, `WorkflowType = 'failoverHost'`));
    await failover.result();
    record(stack, 'hypervisor-failover', failover.workflowId);
    record(stack, 'container-failover', await firstOf(stack, `WorkflowType = 'failoverContainer' AND ExecutionStatus = 'Completed'`));
    await stack.sim.admin.rejoin(crashed);

    // The long-lived loops: a first run, with a pause, a resume and new settings, to its continue-as-new.
    for (const [type, options, name] of [
      ['monitorLoop', MONITOR, 'monitor-loop'],
      ['collectorLoop', COLLECT, 'collector-loop'],
    ] as const) {
      const h = await temporal.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId: `record-${name}`, args: [{ everySeconds: 1, options, cyclesPerRun: 2 }] });
      await h.executeUpdate(pauseCyclesUpdate, { args: [{ paused: true }] });
      await h.executeUpdate(pauseCyclesUpdate, { args: [{ paused: false }] });
      await h.signal(cycleSettingsSignal, { everySeconds: 2 });
      for (let i = 0; i < 300 && (await h.describe()).runId === h.firstExecutionRunId; i++) await new Promise((r) => setTimeout(r, 200));
      record(stack, name, h.workflowId, h.firstExecutionRunId);
      await h.terminate();
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
