// /metrics on a real stack whose worker runs in the API's process: commands are counted where they
// run — those sent by the TypeScript client as much as those sent through the API — by type and
// outcome (completed, failed with its code, cancelled); every host's capacity, use and state;
// monitor and collector cycles with their durations; a host's failover by host and outcome; and
// requests and accepted commands by the name of the token that sent them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { collectorCycle, monitorCycle } from '../support/cycles';
import { eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';
import { commandEnd, startApi, type ApiUnderTest } from '../api/support';

const small = { kind: 'generic', cpus: 1, memoryMiB: 512, diskGiB: 5 };

/** A metric's value in Prometheus text, summed over the series whose labels include `labels`. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('metrics', () => {
  let stack: Stack;
  let api: ApiUnderTest;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1', cpus: 8 }, { name: 'hv-2' }, { name: 'hv-3' }] });
    api = await startApi(stack);
  });
  after(async () => {
    await api?.close();
    await stack?.stop();
  });

  const scrape = async () => (await api.request('GET', '/metrics', { token: api.tokens.viewer })).text;
  /** Scrapes until `ready` holds. */
  const scrapeUntil = (ready: (text: string) => boolean, what: string) => eventually(async () => ((t) => (ready(t) ? t : undefined))(await scrape()), 30_000, what);

  test('commands sent by the client are counted where they run, by type and outcome', async () => {
    const before = await scrape();
    await (await stack.client.containers.create('m-c1', { definition: small, hint: 'hv-2' })).result();
    await (await stack.client.containers.stop('m-c1')).result();
    const rule = await stack.sim.admin.addFailure({ operation: 'start', host: 'hv-2', times: 1, message: 'no power' });
    await assert.rejects((await stack.client.containers.start('m-c1')).result(), /no power/);
    await stack.sim.admin.removeFailure(rule.id).catch(() => undefined); // gone once it fired
    await stack.sim.admin.setDelays({ start: 5000 }, 'hv-2');
    const slow = await stack.client.containers.start('m-c1');
    await eventually(async () => ((await slow.progress()).phase === 'running' ? true : undefined), 10_000, 'the start running');
    await slow.cancel();
    await assert.rejects(slow.result());
    await stack.sim.admin.setDelays({ start: null }, 'hv-2');
    const delta = (t: string, name: string, labels: Record<string, string>) => metric(t, name, labels) - metric(before, name, labels);
    const text = await scrapeUntil((t) => delta(t, 'vmflow_commands_cancelled_total', { command: 'start' }) >= 1, 'the cancelled start counted');
    assert.equal(delta(text, 'vmflow_commands_started_total', { command: 'create', kind: 'container' }), 1);
    assert.equal(delta(text, 'vmflow_commands_completed_total', { command: 'create', kind: 'container' }), 1);
    assert.equal(delta(text, 'vmflow_commands_completed_total', { command: 'stop', kind: 'container' }), 1);
    assert.equal(delta(text, 'vmflow_commands_failed_total', { command: 'start', code: 'DRIVER_ERROR' }), 1);
    assert.equal(delta(text, 'vmflow_command_duration_seconds_count', { command: 'create', outcome: 'completed' }), 1);
    assert.equal(delta(text, 'vmflow_api_commands_submitted_total', {}), 0, 'the client did not go through the API');
  });

  test("every host's capacity, use and state", async () => {
    await (await stack.client.containers.create('m-c2', { definition: { ...small, cpus: 3 }, hint: 'hv-1' })).result();
    await stack.client.hypervisors.drain('hv-3', 'metrics', { keep: true });
    const text = await scrape();
    assert.equal(metric(text, 'vmflow_host_capacity', { host: 'hv-1', resource: 'cpus' }), 8);
    assert.equal(metric(text, 'vmflow_host_used', { host: 'hv-1', resource: 'cpus' }), 3);
    assert.equal(metric(text, 'vmflow_host_used', { host: 'hv-1', resource: 'memoryMiB' }), 512);
    assert.equal(metric(text, 'vmflow_host_state', { host: 'hv-1', state: 'up' }), 1);
    assert.equal(metric(text, 'vmflow_host_state', { host: 'hv-3', state: 'draining' }), 1);
    assert.equal(metric(text, 'vmflow_host_state', { host: 'hv-3', state: 'up' }), 0);
    await stack.client.hypervisors.undrain('hv-3');
  });

  test('requests and accepted commands by the name of their token', async () => {
    const r = await api.request('POST', '/v1/containers/m-c2/reboot', { token: api.tokens.operator });
    assert.equal(r.status, 202, r.text);
    await commandEnd(api, r.json.href);
    await api.request('POST', '/v1/containers/m-c2/reboot', { token: api.tokens.viewer });
    const text = await scrape();
    assert.equal(metric(text, 'vmflow_api_commands_submitted_total', { command: 'reboot', token: 'test-operator' }), 1);
    assert.equal(metric(text, 'vmflow_api_requests_total', { route: '/v1/containers/:ref/reboot', status: '202', token: 'test-operator' }), 1);
    assert.equal(metric(text, 'vmflow_api_requests_total', { route: '/v1/containers/:ref/reboot', status: '403', token: 'test-viewer' }), 1);
    assert.ok(metric(text, 'vmflow_api_requests_total', { route: '/metrics', token: 'test-viewer' }) >= 1);
  });

  test('monitor and collector cycles with their durations, and a failover by host and outcome', async () => {
    const before = await scrape();
    await (await stack.client.containers.create('m-ha', { definition: { ...small, ha: 'restart' }, hint: 'hv-3' })).result();
    await stack.sim.admin.crash('hv-3');
    const monitor = { downAfter: 2, contactEverySeconds: 60, pollTimeoutMs: 2000 };
    await monitorCycle(stack, monitor);
    await monitorCycle(stack, monitor);
    await collectorCycle(stack, { claimTtlSeconds: 900, orphanGraceSeconds: 3600 });
    const delta = (t: string, name: string, labels: Record<string, string>) => metric(t, name, labels) - metric(before, name, labels);
    const text = await scrapeUntil((t) => delta(t, 'vmflow_failovers_total', { host: 'hv-3' }) >= 1, 'the failover of hv-3 counted');
    assert.equal(delta(text, 'vmflow_cycles_total', { cycle: 'monitor', outcome: 'completed' }), 2);
    assert.equal(delta(text, 'vmflow_cycles_total', { cycle: 'collector', outcome: 'completed' }), 1);
    assert.equal(delta(text, 'vmflow_cycle_duration_seconds_count', { cycle: 'monitor' }), 2);
    assert.equal(delta(text, 'vmflow_failovers_total', { host: 'hv-3', outcome: 'completed' }), 1);
    assert.equal(delta(text, 'vmflow_failover_duration_seconds_count', { host: 'hv-3', outcome: 'completed' }), 1);
    assert.equal(delta(text, 'vmflow_failover_containers_total', { host: 'hv-3', outcome: 'restarted' }), 1);
    assert.equal(delta(text, 'vmflow_commands_completed_total', { command: 'failover', kind: 'container' }), 1, 'the container rebuilt by the failover, as a command');
    assert.equal(metric(text, 'vmflow_host_state', { host: 'hv-3', state: 'down' }), 1);
  });
});
