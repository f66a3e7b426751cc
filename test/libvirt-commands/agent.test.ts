// Agent mode on a real libvirt host: a host registered with an agent queue has every driver call
// run by the agent process on that queue (src/agent, started as its own OS process). An agent
// killed mid-operation is replaced and the command finishes by itself; a command sent while no
// agent polls waits on the queue (bounded by its schedule-to-start timeout) and runs when one
// comes back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { agentQueue, TASK_QUEUE } from '../../src/domain/names';
import { spawnAgent, type AgentProcess } from '../support/agent';
import { eventually } from '../support/invariants';
import { skipMessage } from '../support/libvirt';
import { domstate } from '../libvirt/checks';
import { activityRuns, assertHostsMatchRegistry, historyOf, startLibvirtStack, tiny, type LibvirtStack } from './harness';

const HOST = 'lv-ag';
const QUEUE = agentQueue(HOST);
const HOST_ACTIVITIES = new Set(['containerDefine', 'containerProvision', 'containerPower', 'containerShutdown', 'containerRemove', 'hostStatus']);
/** temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED */
const PENDING_ACTIVITY_STARTED = 2;

let ls: LibvirtStack | undefined;
const agents: AgentProcess[] = [];

async function startAgent(): Promise<AgentProcess> {
  const agent = await spawnAgent({ temporalAddress: ls!.stack.temporal.address, host: HOST });
  agents.push(agent);
  return agent;
}

before(async () => {
  ls = await startLibvirtStack([{ name: HOST, agentQueue: QUEUE, register: false }]);
  if (!ls) {
    console.log(skipMessage());
    return;
  }
  // The agent first: registering probes the host through its queue.
  await startAgent();
  const node = await ls.register({ name: HOST, agentQueue: QUEUE });
  assert.equal(node.state, 'up', JSON.stringify(node.metadata));
});
after(async () => {
  for (const a of agents) await a.kill('SIGKILL');
  await ls?.stop();
});

const containers = () => ls!.stack.client.containers;
const uri = () => ls!.host(HOST).uri;

describe('agent mode on a libvirt host', { concurrency: false }, () => {
  it('runs every driver call of a command on the host’s agent, none on the central worker', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const h = await containers().create('ag1', { definition: tiny, hint: HOST });
    const r = await h.result();
    assert.equal(r.state, 'running');
    assert.equal(await domstate(uri(), 'ag1'), 'running');
    const runs = activityRuns(await historyOf(ls, h.workflowId));
    const onHost = runs.filter((a) => HOST_ACTIVITIES.has(a.type));
    assert.deepEqual(onHost.map((a) => a.type), ['containerDefine', 'containerProvision', 'containerPower']);
    for (const a of onHost) {
      assert.equal(a.taskQueue, QUEUE, `${a.type} goes to the agent's queue`);
      assert.equal(a.identity, agents[0]!.identity, `${a.type} ran in the agent process`);
      assert.equal(a.scheduleToStartSeconds, 120, `${a.type} gives up after 2 minutes without an agent`);
    }
    for (const a of runs.filter((x) => !HOST_ACTIVITIES.has(x.type))) assert.equal(a.taskQueue, TASK_QUEUE, `${a.type} is central`);
    await assertHostsMatchRegistry(ls);
  });

  it('finishes a shutdown by itself when its agent is SIGKILLed mid-call and another starts', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const began = Date.now();
    // The guest ignores ACPI: the agent polls its state for 8 s before pulling the plug.
    const h = await containers().shutdown('ag1', 8000);
    const workflow = ls.stack.client.temporal.workflow.getHandle(h.workflowId);
    await eventually(async () => (await workflow.describe()).raw.pendingActivities?.[0]?.state === PENDING_ACTIVITY_STARTED, 20_000, 'the agent to pick up the shutdown');
    await new Promise((r) => setTimeout(r, 1500));
    const first = agents[agents.length - 1]!;
    await first.kill('SIGKILL');
    const killedAt = Date.now() - began;
    assert.equal(await domstate(uri(), 'ag1'), 'running', 'killed before the hard stop');
    const second = await startAgent();
    const r = await h.result();
    const took = Date.now() - began;
    t.diagnostic(`agent killed ${killedAt} ms in; the command completed after ${took} ms`);
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
    await agents[agents.length - 1]!.kill('SIGTERM');
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

  it('destroys through the agent: no domain or disk left', async (t) => {
    if (!ls) return t.skip(skipMessage());
    await (await containers().destroy('ag1')).result();
    await assertHostsMatchRegistry(ls);
  });
});
