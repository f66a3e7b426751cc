// vmflow in its production topology, from the compiled build: a 4-shard Temporal server on
// PostgreSQL with the Web UI server, the registry on MariaDB, and vmflow's processes from dist/ —
// two workers, the API and the sim. Commands survive a worker SIGKILLed, the Temporal server
// restarted and the registry's database restarted mid-command; afterwards the registry and the
// sim agree. Run by `npm run test:production` (it builds the tools and dist/ first).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { commandPath } from '../../src/cli/api-client';
import { connect, type CommandHandle, type Vmflow } from '../../src/client';
import { CancelledError } from '../../src/domain/errors';
import { SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTE_TYPES } from '../../src/domain/names';
import { openRegistry, type SqlRegistry } from '../../src/registry';
import { deployVmflow, runVmflow, startCluster, type Cluster, type Deployment, type VmflowProcess } from '../../scripts/production/cluster';
import { NAMESPACE, RETENTION } from '../../scripts/production/versions';
import { eventually, findViolations } from '../support/invariants';
import type { Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
const HOSTS = ['hv-1', 'hv-2', 'hv-3'];
const SLOW_MS = 6000;

describe('vmflow on a production cluster', () => {
  let cluster: Cluster;
  let vmflow: Deployment;
  let client: Vmflow;
  let registry: SqlRegistry;
  /** The pids of the two workers deployed first: both must have run commands. */
  let firstWorkers: number[] = [];
  const log = (line: string) => console.error(`  ${line}`);
  const cli = (args: string[]) => runVmflow(args, { ...cluster.env, VMFLOW_API_URL: vmflow.api.url, VMFLOW_TOKEN: vmflow.api.token });

  before(async () => {
    cluster = await startCluster({ log });
  });
  after(async () => {
    await client?.close();
    await registry?.close();
    await vmflow?.stop();
    await cluster?.stop();
  });

  /** Submits through the API; returns the command's handle (Temporal client) to follow it. */
  async function submit(path: string, body: unknown) {
    const accepted = await vmflow.api.client.post<{ workflowId: string }>(path, body);
    return client.commands.handle(accepted.workflowId);
  }

  /** Creates `name` with a slow provisioning and disrupts something while it provisions. */
  async function duringProvision(name: string, disrupt: (h: CommandHandle<any>) => Promise<void>): Promise<CommandHandle<any>> {
    await vmflow.sim.admin.setDelays({ provision: SLOW_MS });
    try {
      const h = await submit('/v1/containers', { name, definition: web });
      await eventually(async () => /— provision/.test((await h.progress()).step), 60_000, `${name} provisioning`);
      await disrupt(h);
      return h;
    } finally {
      await vmflow.sim.admin.setDelays({ provision: null }).catch(() => undefined);
    }
  }

  test('a worker refuses a cluster `vmflow temporal setup` has not prepared, and says what to run', async () => {
    const noNamespace = runVmflow(['worker'], cluster.env);
    assert.notEqual(noNamespace.status, 0);
    assert.match(noNamespace.stderr, new RegExp(`namespace "${NAMESPACE}" does not exist`));
    assert.match(noNamespace.stderr, /vmflow temporal setup --address \S+ --namespace vmflow/);

    // A namespace someone made by hand, without vmflow's search attributes.
    const connection = await Connection.connect({ address: cluster.temporal.address });
    await connection.workflowService.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs('1 day') });
    await connection.close();
    const noAttributes = await eventually(async () => {
      const r = runVmflow(['worker'], cluster.env);
      return /lacks vmflow's search attributes/.test(r.stderr) && r;
    }, 60_000, 'the namespace to be seen');
    assert.notEqual(noAttributes.status, 0);
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_TYPES)) assert.match(noAttributes.stderr, new RegExp(`${name} \\(${type}\\)`));
  });

  test('`vmflow temporal setup` from dist/ sets the retention and registers the search attributes; run again, it changes nothing', () => {
    const first = runVmflow(['temporal', 'setup', '--address', cluster.temporal.address, '--namespace', NAMESPACE, '--retention', RETENTION], cluster.env, { viaBin: true });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /retention 1d -> 7d/);
    for (const name of Object.keys(SEARCH_ATTRIBUTE_TYPES)) assert.match(first.stdout, new RegExp(`${name} \\(\\w+\\): added`));
    const again = runVmflow(['temporal', 'setup', '--address', cluster.temporal.address, '--namespace', NAMESPACE, '--retention', RETENTION, '-o', 'json'], cluster.env, { viaBin: true });
    assert.equal(again.status, 0, again.stderr);
    const report = JSON.parse(again.stdout);
    assert.deepEqual({ created: report.created, retentionChanged: report.retentionChanged, added: report.added, retentionSeconds: report.retentionSeconds }, { created: false, retentionChanged: false, added: [], retentionSeconds: 7 * 86_400 });
  });

  test('two workers, the API and the sim run from dist/; hosts are added with the compiled CLI', async () => {
    vmflow = await deployVmflow(cluster, { workers: 2, log });
    firstWorkers = vmflow.workers.map((w) => w.pid);
    registry = await openRegistry({ url: cluster.registry.url });
    client = await connect({ temporalAddress: cluster.temporal.address, namespace: NAMESPACE, registry });
    // bin/vmflow chose the build: the sim it started runs dist/src/cli/main.js.
    const cmdline = readFileSync(`/proc/${vmflow.sim.process.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(cmdline.some((a) => a.endsWith('dist/src/cli/main.js')), `bin/vmflow ran ${cmdline.join(' ')}`);
    for (const w of vmflow.workers) assert.ok(readFileSync(`/proc/${w.pid}/cmdline`, 'utf8').includes('dist/src/cli/main.js'));

    for (const name of HOSTS) {
      await vmflow.sim.admin.addHost({ id: name, cpus: 16, memoryMiB: 32768, diskGiB: 1000 });
      const r = cli(['hypervisors', 'add', name, '--driver', 'sim', '--address', vmflow.sim.admin.hostAddress(name), '--cpus', '16', '--memory', '32768', '--disk', '1000']);
      assert.equal(r.status, 0, r.stderr);
    }
    const listed = await vmflow.api.client.get<{ items: Array<{ name: string; state: string }> }>('/v1/hypervisors');
    assert.deepEqual(listed.items.map((h) => h.name).sort(), HOSTS);
  });

  test('creates, through the API, spread over both workers', async () => {
    const handles = await Promise.all(Array.from({ length: 12 }, (_, i) => submit('/v1/containers', { name: `c${i}`, definition: web })));
    const results = await Promise.all(handles.map((h) => h.result()));
    for (const r of results) assert.equal(r.state, 'running');
    const r = cli(['containers', 'create', 'cli1', '--kind', 'web', '--cpus', '1', '--memory', '1024', '--disk', '10', '--wait']);
    assert.equal(r.status, 0, r.stderr);
  });

  test('a live migration', async () => {
    const from = (await client.containers.get('c0')).parentId;
    const target = (await registry.list({ type: 'hypervisor' })).find((h) => h.id !== from)!.name;
    const h = await submit('/v1/containers/c0/migrate', { target });
    const r = await h.result();
    assert.equal(r.host, target);
    assert.equal((await vmflow.sim.admin.vm(target, 'c0'))?.state, 'running');
  });

  test('an environment whose second web asks for a balancer', async () => {
    await (await submit('/v1/environments', { name: 'shop' })).result();
    await (await submit('/v1/environments/shop/members', { create: { name: 'web1', definition: web } })).result();
    const second = await (await submit('/v1/environments/shop/members', { create: { name: 'web2', definition: web } })).result();
    const members = await client.environments.members('shop');
    const balancer = members.find((m) => m.kind === 'balancer');
    assert.ok(balancer, 'the second web asked for a balancer');
    assert.deepEqual(second.created, [balancer.name, 'web2']);
  });

  test('a cancel during the provisioning is compensated: no container, no claim, no VM', async () => {
    const h = await duringProvision('cancelled1', async (h) => {
      await vmflow.api.client.post(`${commandPath(h.workflowId)}/cancel`, {});
    });
    await assert.rejects(h.result(), (err) => err instanceof CancelledError);
    assert.equal(await registry.findByName('cancelled1'), undefined);
    assert.equal((await registry.list({ type: 'placeholder' })).length, 0);
    for (const host of HOSTS) assert.equal(await vmflow.sim.admin.vm(host, 'cancelled1'), undefined);
  });

  test('a worker SIGKILLed mid-command: the other worker finishes it', async () => {
    let victim: VmflowProcess | undefined;
    const h = await duringProvision('killed1', async (h) => {
      const { raw } = await client.temporal.workflow.getHandle(h.workflowId).describe();
      const identity = raw.pendingActivities?.[0]?.lastWorkerIdentity ?? '';
      victim = vmflow.workers.find((w) => identity.startsWith(`${w.pid}@`));
      assert.ok(victim, `the provisioning runs on ${identity}, which is none of ${vmflow.workers.map((w) => w.pid).join(', ')}`);
      await victim.kill('SIGKILL');
    });
    const survivor = vmflow.workers.find((w) => w !== victim)!;
    const r = await h.result();
    assert.equal(r.state, 'running');
    const finishers = await identitiesOf(h.workflowId, 'activityTaskStartedEventAttributes');
    assert.ok(finishers.at(-1)?.startsWith(`${survivor.pid}@`), `the last activity ran on ${finishers.at(-1)}, not the surviving worker ${survivor.pid}`);
    vmflow.workers.splice(vmflow.workers.indexOf(victim!), 1);
    await vmflow.startWorker();
  });

  test('the Temporal server restarted mid-command: the command completes', async () => {
    const h = await duringProvision('restarted1', () => cluster.temporal.restart({ downMs: 3000 }));
    assert.equal((await h.result()).state, 'running');
  });

  test('the registry database restarted mid-command: the command completes', async () => {
    // Down for longer than the provisioning has left: the commit meets a dead database and is retried.
    const h = await duringProvision('dbrestart1', () => cluster.registry.restart({ signal: 'SIGKILL', downMs: SLOW_MS }));
    assert.equal((await h.result()).state, 'running');
  });

  test("the Web UI server answers, and finds vmflow's commands by search attribute", async () => {
    const ui = cluster.ui!;
    const page = await fetch(`${ui.url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const query = `${SEARCH_ATTRIBUTES.container}="c1"`;
    const found = await eventually(async () => {
      const res = await fetch(`${ui.url}/api/v1/namespaces/${NAMESPACE}/workflows?query=${encodeURIComponent(query)}`);
      if (!res.ok) return undefined;
      const body = (await res.json()) as { executions?: Array<{ execution: { workflowId: string } }> };
      const ids = (body.executions ?? []).map((e) => e.execution.workflowId);
      return ids.some((id) => id.startsWith('container/c1/create/')) && ids;
    }, 60_000, `the Web UI to list ${query}`);
    assert.ok(found.every((id) => id.startsWith('container/c1')), `${query} listed ${found.join(', ')}`);
  });

  test('commands ran on both workers, and the registry and the sim agree', async () => {
    const perWorker = new Map<string, number>();
    let commands = 0;
    for await (const w of client.temporal.workflow.list({ query: `${SEARCH_ATTRIBUTES.command} IS NOT NULL` })) {
      commands++;
      const identities = new Set([...(await identitiesOf(w.workflowId, 'workflowTaskStartedEventAttributes')), ...(await identitiesOf(w.workflowId, 'activityTaskStartedEventAttributes'))]);
      for (const id of identities) perWorker.set(id, (perWorker.get(id) ?? 0) + 1);
    }
    log(`${commands} commands; commands each worker took part in: ${JSON.stringify(Object.fromEntries(perWorker))}`);
    for (const pid of firstWorkers) assert.ok([...perWorker].some(([id, n]) => id.startsWith(`${pid}@`) && n > 0), `worker ${pid} ran no command`);
    const stack = { services: { registry }, sim: { admin: vmflow.sim.admin }, client } as unknown as Stack;
    const violations = await eventually(async () => {
      const v = await findViolations(stack);
      return v.length === 0 ? [] : undefined;
    }, 60_000, 'a sound cluster').catch(async () => findViolations(stack));
    assert.deepEqual(violations, []);
  });

  /** Identities of the workers that started the given events of a workflow, in history order. */
  async function identitiesOf(workflowId: string, attributes: 'workflowTaskStartedEventAttributes' | 'activityTaskStartedEventAttributes'): Promise<string[]> {
    const history = await client.temporal.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? []).map((e) => e[attributes]?.identity).filter((i): i is string => !!i);
  }
});
