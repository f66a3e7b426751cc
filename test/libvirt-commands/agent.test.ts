// Agent mode on real libvirt hosts: a host registered with an agent queue has every driver call
// run by the agent process on that queue (src/agent, started as its own OS process). An agent
// killed mid-operation is replaced and the command finishes by itself; a command sent while no
// agent polls waits on the queue (bounded by its schedule-to-start timeout) and runs when one
// comes back.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { agentQueue, TASK_QUEUE } from '../../src/domain/names';
import { spawnAgent, type AgentProcess } from '../support/agent';
import { eventually } from '../support/invariants';
import { skipMessage, virsh } from '../support/libvirt';
import { domstate, hasPattern } from '../libvirt/checks';
import { activityRuns, assertHostsMatchRegistry, type ActivityRun, historyOf, startLibvirtStack, tiny, type LibvirtStack } from './harness';

const HOST = 'lv-ag';
const OTHER = 'lv-ag2';
const QUEUE = agentQueue(HOST);
const HOST_ACTIVITIES = new Set(['containerBuild', 'containerDefine', 'containerPower', 'containerShutdown', 'containerRemove', 'containerMigrate', 'hostStatus']);
/** temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STARTED */
const PENDING_ACTIVITY_STARTED = 2;

let ls: LibvirtStack | undefined;
const agents = new Map<string, AgentProcess[]>();

async function startAgent(host = HOST): Promise<AgentProcess> {
  const agent = await spawnAgent({ temporalAddress: ls!.stack.temporal.address, host });
  agents.set(host, [...(agents.get(host) ?? []), agent]);
  return agent;
}
const currentAgent = (host = HOST) => agents.get(host)!.at(-1)!;

before(async () => {
  ls = await startLibvirtStack([
    { name: HOST, register: false },
    { name: OTHER, register: false },
  ]);
  if (!ls) {
    console.log(skipMessage());
    return;
  }
  // The agents first: registering a host probes it through its queue.
  await Promise.all([startAgent(HOST), startAgent(OTHER)]);
  for (const name of [HOST, OTHER]) {
    const node = await ls.register({ name, agentQueue: agentQueue(name) });
    assert.equal(node.state, 'up', JSON.stringify(node.metadata));
  }
});
after(async () => {
  for (const list of agents.values()) for (const a of list) await a.kill('SIGKILL');
  await ls?.stop();
});

const containers = () => ls!.stack.client.containers;
const uri = (host = HOST) => ls!.host(host).uri;

async function pendingState(workflowId: string) {
  return (await ls!.stack.client.temporal.workflow.getHandle(workflowId).describe()).raw.pendingActivities?.[0];
}

describe('agent mode on libvirt hosts', { concurrency: false }, () => {
  it('runs every driver call of a command on the host’s agent, none on the central worker', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const h = await containers().create('ag1', { definition: tiny, hint: HOST });
    const r = await h.result();
    assert.equal(r.state, 'running');
    assert.equal(await domstate(uri(), 'ag1'), 'running');
    const runs = activityRuns(await historyOf(ls, h.workflowId));
    const onHost = runs.filter((a) => HOST_ACTIVITIES.has(a.type));
    assert.ok(onHost.length > 0, `driver calls: ${runs.map((a) => a.type).join(', ')}`);
    for (const a of onHost) {
      assert.equal(a.taskQueue, QUEUE, `${a.type} goes to the agent's queue`);
      assert.equal(a.identity, agents.get(HOST)![0]!.identity, `${a.type} ran in the agent process`);
      assert.equal(a.scheduleToStartSeconds, 120, `${a.type} gives up after 2 minutes without an agent`);
    }
    for (const a of runs.filter((x) => !HOST_ACTIVITIES.has(x.type))) assert.equal(a.taskQueue, TASK_QUEUE, `${a.type} is central`);
    await assertHostsMatchRegistry(ls);
  });

  it("reads a container's config files on the host's agent", async (t) => {
    if (!ls) return t.skip(skipMessage());
    // What a hook would have written: the driver keeps a container's files beside its disk.
    const folder = path.join(ls.host(HOST).storagePath, 'ag1.config', 'etc');
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'app.conf'), 'workers=4\n');
    const read = await containers().files('ag1', '/etc/app.conf');
    assert.deepEqual(read, { container: 'ag1', host: HOST, paths: ['/etc/app.conf'], file: { path: '/etc/app.conf', content: 'workers=4\n' } });
    await assert.rejects(containers().files('ag1', '/etc/other.conf'), /config file \/etc\/other\.conf in ag1 \(its files: \/etc\/app\.conf\) not found/);
    const temporal = ls.stack.client.temporal;
    const reads: string[] = [];
    await eventually(async () => {
      reads.length = 0;
      for await (const w of temporal.workflow.list({ query: `WorkflowType = 'readContainerFiles'` })) reads.push(w.workflowId);
      return reads.length >= 2;
    }, 15_000, 'the file reads in visibility');
    for (const id of reads) {
      const runs: ActivityRun[] = activityRuns(await historyOf(ls, id)).filter((a) => a.type === 'containerFiles');
      assert.ok(runs.length > 0);
      for (const a of runs) assert.equal(a.identity, currentAgent().identity, `${id} read the file in the agent process`);
    }
  });

  it('finishes a shutdown by itself when its agent is SIGKILLed mid-call and another starts', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const began = Date.now();
    // The guest ignores ACPI: the agent polls its state for 6 s before pulling the plug.
    const h = await containers().shutdown('ag1', 6000);
    await eventually(async () => (await pendingState(h.workflowId))?.state === PENDING_ACTIVITY_STARTED, 20_000, 'the agent to pick up the shutdown');
    await new Promise((r) => setTimeout(r, 1500));
    await currentAgent().kill('SIGKILL');
    const killedAt = Date.now() - began;
    assert.equal(await domstate(uri(), 'ag1'), 'running', 'killed before the hard stop');
    const second = await startAgent();
    const r = await h.result();
    t.diagnostic(`agent killed ${killedAt} ms in; the command completed after ${Date.now() - began} ms`);
    assert.equal(r.state, 'stopped');
    assert.equal((await containers().get('ag1')).state, 'stopped');
    assert.equal(await domstate(uri(), 'ag1'), 'shut off');
    const shutdown = activityRuns(await historyOf(ls, h.workflowId)).find((a) => a.type === 'containerShutdown');
    assert.ok(shutdown?.completed);
    assert.equal(shutdown.identity, second.identity, 'the new agent finished it');
    assert.ok((shutdown.attempt ?? 0) >= 2, `retried after the heartbeat timeout (attempt ${shutdown.attempt})`);
    await assertHostsMatchRegistry(ls);
  });

  it('holds a command on the agent queue while no agent polls, and runs it when an agent comes back', async (t) => {
    if (!ls) return t.skip(skipMessage());
    await currentAgent().kill('SIGTERM');
    const h = await containers().start('ag1');
    const scheduled = await eventually(
      async () => activityRuns(await historyOf(ls!, h.workflowId)).find((a) => a.type === 'containerPower'),
      20_000,
      'the start to be scheduled',
    );
    assert.equal(scheduled.taskQueue, QUEUE);
    assert.equal(scheduled.scheduleToStartSeconds, 120, 'without an agent it fails after 2 minutes rather than waiting forever');
    await new Promise((r) => setTimeout(r, 3000));
    const progress = await h.progress();
    assert.equal(progress.phase, 'running');
    assert.equal(progress.step, `start on ${HOST}`);
    assert.equal(await domstate(uri(), 'ag1'), 'shut off', 'nobody else ran it');
    const third = await startAgent();
    const r = await h.result();
    assert.equal(r.state, 'running');
    assert.equal(await domstate(uri(), 'ag1'), 'running');
    const start = activityRuns(await historyOf(ls, h.workflowId)).find((a) => a.type === 'containerPower');
    assert.equal(start?.identity, third.identity);
    assert.equal(start?.attempt, 1, 'it waited; it did not fail and retry');
  });

  it('finishes a live migration by itself when the source’s agent is SIGKILLed mid-copy', async (t) => {
    if (!ls) return t.skip(skipMessage());
    // 600 MiB of data on the disk: the storage copy takes seconds, long enough to be interrupted.
    await (await containers().create('ag2', { definition: tiny, hint: HOST, start: false })).result();
    const disk = path.join(ls.host(HOST).storagePath, 'ag2.qcow2');
    await promisify(execFile)('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x6b 0 600M', disk]);
    await (await containers().start('ag2')).result();

    const began = Date.now();
    const h = await containers().migrate('ag2', { target: OTHER });
    await eventually(
      async () => {
        const p = await pendingState(h.workflowId);
        return p?.activityType?.name === 'containerMigrate' && p.state === PENDING_ACTIVITY_STARTED && (await h.progress()).fraction !== undefined;
      },
      30_000,
      'the live copy to begin',
    );
    await currentAgent(HOST).kill('SIGKILL');
    const killedAt = Date.now() - began;
    const fresh = await startAgent(HOST);
    const r = await h.result();
    t.diagnostic(`source agent killed ${killedAt} ms in; the migration completed after ${Date.now() - began} ms`);
    assert.equal(r.host, OTHER);
    assert.equal(r.state, 'running');
    assert.equal(await domstate(uri(HOST), 'ag2'), undefined, 'the source forgot it');
    assert.equal(existsSync(disk), false, 'the source disk is gone');
    assert.equal((await virsh(uri(OTHER), 'domstate', '--reason', '--domain=ag2')).stdout.trim(), 'running (migrated)');
    assert.ok(await hasPattern(path.join(ls.host(OTHER).storagePath, 'ag2.qcow2'), 0x6b), 'the data arrived');
    const migrate = activityRuns(await historyOf(ls, h.workflowId)).find((a) => a.type === 'containerMigrate');
    assert.equal(migrate?.identity, fresh.identity, 'the new agent finished it');
    assert.ok((migrate?.attempt ?? 0) >= 2, `retried (attempt ${migrate?.attempt})`);
    await assertHostsMatchRegistry(ls);
  });

  it('destroys through the agents: no domain or disk left', async (t) => {
    if (!ls) return t.skip(skipMessage());
    await (await containers().destroy('ag1')).result();
    await (await containers().destroy('ag2')).result();
    await assertHostsMatchRegistry(ls);
  });
});
