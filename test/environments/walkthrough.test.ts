// Cloud48's walk-through and the environment rules, on the real stack.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { DeniedError } from '../../src/domain/errors';
import { UPSTREAM_PATH, upstreamAddresses } from '../../src/hooks/nginx';
import { assertConsistent, snapshotCluster } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
const db = { kind: 'db', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

/** Checks a conf.d file with `nginx -t` inside a minimal main configuration. */
function nginxAccepts(confd: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-nginx-'));
  writeFileSync(path.join(dir, 'upstream.conf'), confd);
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  include ${dir}/upstream.conf;\n}\n`,
  );
  const r = spawnSync(NGINX!, ['-t', '-q', '-p', dir, '-c', path.join(dir, 'nginx.conf')], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

describe('environments', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }] });
  });
  after(async () => stack?.stop());
  afterEach(() => stack.sim.admin.clearFailures());

  const envs = () => stack.client.environments;
  const ipOf = async (name: string) => (await stack.client.containers.get(name)).definition.network.ip;
  async function balancerOf(env: string) {
    const members = await envs().members(env);
    return members.find((m) => m.kind === 'balancer');
  }
  async function upstreams(env: string): Promise<string[]> {
    const lb = await balancerOf(env);
    assert.ok(lb, `${env} has no balancer`);
    const vm = await stack.sim.admin.vm(lb.host!, lb.name);
    return upstreamAddresses(vm!.configs[UPSTREAM_PATH] ?? '').sort();
  }
  async function hookCalls(env: string, commandId: string) {
    const node = await envs().get(env);
    const events = await stack.services.registry.events(node.id, 500);
    return events
      .filter((e) => e.commandId === commandId && e.what.startsWith('hook '))
      .reverse()
      .map((e) => `${e.data.event}:${e.data.container}${e.data.other ? `>${e.data.other}` : ''}`);
  }

  test("Cloud48's walk-through: the second web asks for a balancer, which lists every web", async () => {
    await (await envs().create('shop')).result();
    await (await envs().add('shop', { create: { name: 'web1', definition: web } })).result();
    assert.equal(await balancerOf('shop'), undefined, 'one web needs no balancer');

    const second = await envs().add('shop', { create: { name: 'web2', definition: web } });
    const r = await second.result();
    const lb = await balancerOf('shop');
    assert.ok(lb, 'the second web asked for a balancer');
    assert.deepEqual(r.created, [lb.name, 'web2'], 'the balancer was created before web2');
    assert.deepEqual(await upstreams('shop'), [await ipOf('web1'), await ipOf('web2')].sort());

    await (await envs().add('shop', { create: { name: 'web3', definition: web } })).result();
    assert.deepEqual(await upstreams('shop'), [await ipOf('web1'), await ipOf('web2'), await ipOf('web3')].sort());

    await (await envs().remove('shop', 'web2')).result();
    assert.deepEqual(await upstreams('shop'), [await ipOf('web1'), await ipOf('web3')].sort());
    assert.equal((await envs().members('shop')).some((m) => m.name === 'web2'), false);
    assert.equal((await stack.client.containers.get('web2')).state, 'running', 'removing without destroy keeps the container');
    await assertConsistent(stack);
  });

  test('the upstream configuration is valid nginx syntax', { skip: NGINX ? false : 'nginx is not installed' }, async () => {
    const lb = (await balancerOf('shop'))!;
    const conf = (await stack.sim.admin.vm(lb.host!, lb.name))!.configs[UPSTREAM_PATH]!;
    const check = nginxAccepts(conf);
    assert.ok(check.ok, check.output);
    assert.equal(nginxAccepts(conf.replace('upstream', 'upstrem')).ok, false, 'nginx -t must reject a broken file');
  });

  test('handlers are called newcomer first, then the others by priority (ties by name), for adds and removes', async () => {
    await (await envs().add('shop', { create: { name: 'db1', definition: db } })).result();
    const add = await envs().add('shop', { create: { name: 'web4', definition: web } });
    await add.result();
    const lb = (await balancerOf('shop'))!.name;
    assert.deepEqual(await hookCalls('shop', add.commandId), [
      'beforeItIsAdded:web4',
      'beforeOtherIsAdded:db1>web4',
      'beforeOtherIsAdded:web1>web4',
      'beforeOtherIsAdded:web3>web4',
      `beforeOtherIsAdded:${lb}>web4`,
      'afterItIsAdded:web4',
      'afterOtherIsAdded:db1>web4',
      'afterOtherIsAdded:web1>web4',
      'afterOtherIsAdded:web3>web4',
      `afterOtherIsAdded:${lb}>web4`,
    ]);
    const remove = await envs().remove('shop', 'web1');
    await remove.result();
    assert.deepEqual(await hookCalls('shop', remove.commandId), [
      'beforeItIsRemoved:web1',
      'afterOtherIsRemoved:db1>web1',
      'afterOtherIsRemoved:web3>web1',
      'afterOtherIsRemoved:web4>web1',
      `afterOtherIsRemoved:${lb}>web1`,
    ]);
  });

  test('a deny from a handler fails the add with its reason and changes nothing', async () => {
    const before = await snapshotCluster(stack);
    const membersBefore = await envs().members('shop');
    const h = await envs().add('shop', { create: { name: 'lb2', definition: { kind: 'balancer', cpus: 1, memoryMiB: 512, diskGiB: 5 } } });
    await assert.rejects(h.result(), (e) => e instanceof DeniedError && /the environment already has a balancer/.test(e.message));
    assert.deepEqual(await snapshotCluster(stack), before);
    assert.deepEqual(await envs().members('shop'), membersBefore);
    assert.equal(await stack.services.registry.findByName('lb2'), undefined);
  });

  test('a driver failure while the balancer is being created undoes the whole add', async () => {
    await (await envs().create('blog')).result();
    await (await envs().add('blog', { create: { name: 'b-web1', definition: web } })).result();
    const before = await snapshotCluster(stack);
    const membersBefore = await envs().members('blog');
    // The balancer is the first container this add creates: its start fails.
    await stack.sim.admin.addFailure({ operation: 'start', times: 1, message: 'injected start failure' });
    const h = await envs().add('blog', { create: { name: 'b-web2', definition: web } });
    await assert.rejects(h.result(), /injected start failure/);
    assert.deepEqual(await snapshotCluster(stack), before);
    assert.deepEqual(await envs().members('blog'), membersBefore);
  });

  test('a failure after the balancer joined undoes the balancer too', async () => {
    const before = await snapshotCluster(stack);
    // The balancer comes up; then b-web2's own define fails.
    await stack.sim.admin.addFailure({ operation: 'define', vm: 'b-web2', times: 1, message: 'injected define failure' });
    const h = await envs().add('blog', { create: { name: 'b-web2', definition: web } });
    await assert.rejects(h.result(), /injected define failure/);
    assert.deepEqual(await snapshotCluster(stack), before);
    assert.equal(await balancerOf('blog'), undefined);
  });

  test('start and stop a 6-container environment in priority order and its reverse', async () => {
    await (await envs().create('six')).result();
    for (const [name, def] of [
      ['s-db1', db],
      ['s-db2', db],
      ['s-web1', web],
      ['s-web2', web],
      ['s-web3', web],
    ] as const) {
      await (await envs().add('six', { create: { name, definition: def } })).result();
    }
    const members = await envs().members('six');
    assert.equal(members.length, 6);
    const lb = members.find((m) => m.kind === 'balancer')!.name;
    const stop = await (await envs().stop('six')).result();
    assert.deepEqual(
      stop.steps.filter((s: string) => s.startsWith('stop ')),
      [`stop ${lb} (balancer)`, 'stop s-web3 (web)', 'stop s-web2 (web)', 'stop s-web1 (web)', 'stop s-db2 (db)', 'stop s-db1 (db)'],
    );
    assert.ok((await envs().members('six')).every((m) => m.state === 'stopped'));
    const start = await (await envs().start('six')).result();
    assert.deepEqual(
      start.steps.filter((s: string) => s.startsWith('start ')),
      ['start s-db1 (db)', 'start s-db2 (db)', 'start s-web1 (web)', 'start s-web2 (web)', 'start s-web3 (web)', `start ${lb} (balancer)`],
    );
    assert.ok((await envs().members('six')).every((m) => m.state === 'running'));
    await assertConsistent(stack);
  });

  test('two commands sent to one environment at once run one after the other', async () => {
    const [a, b] = await Promise.all([envs().stop('six'), envs().start('six')].map((p) => p.catch((e) => e)));
    const handles = [a, b].filter((h) => h && typeof h.result === 'function');
    assert.equal(handles.length, 2, `both accepted: ${a} ${b}`);
    await Promise.all(handles.map((h) => h.result()));
    const times = await Promise.all(
      handles.map(async (h) => {
        const history = await stack.client.temporal.workflow.getHandle(h.workflowId).fetchHistory();
        // A command with nothing ahead of it runs at once; the others wait for a `turn` signal.
        const turn = history.events!.find((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'turn') ?? history.events![0]!;
        const { closeTime } = await stack.client.temporal.workflow.getHandle(h.workflowId).describe();
        return { turn: Number(turn.eventTime!.seconds) * 1000 + Math.floor((turn.eventTime!.nanos ?? 0) / 1e6), closed: closeTime!.getTime() };
      }),
    );
    times.sort((x, y) => x.turn - y.turn);
    assert.ok(times[1]!.turn >= times[0]!.closed, 'the second began only after the first ended');
  });

  test('a balancer marked down is replaced on another host with the same upstreams', async () => {
    const old = (await balancerOf('shop'))!;
    const upstreamsBefore = await upstreams('shop');
    const r = await (await envs().down('shop', old.name, 'host crashed')).result();
    const fresh = (await balancerOf('shop'))!;
    assert.notEqual(fresh.name, old.name);
    assert.deepEqual(r.created, [fresh.name]);
    assert.notEqual(fresh.host, old.host, 'the replacement is on another host');
    assert.deepEqual(await upstreams('shop'), upstreamsBefore);
    const stale = await stack.client.containers.get(old.name);
    assert.equal(stale.state, 'illegal', 'the old balancer is left for the collector');
  });
});
