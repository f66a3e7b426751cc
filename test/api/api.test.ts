// The REST API over HTTP on loopback against a real stack (Temporal dev server, sim process,
// SQLite registry, worker): its OpenAPI document, a create → migrate → destroy followed through
// hrefs, command listing, modify and cancel, hypervisor admin, environments, metrics, bad input
// on every mutating route and a seeded fuzz of every route.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { routeTable, type RouteInfo } from '../../src/api';
import { seededRandom } from '../../src/allocator';
import { createLogger } from '../../src/log';
import { MAX_CPUS, MAX_DISK_GIB, MAX_MEMORY_MIB } from '../../src/domain/limits';
import { Provisioner } from '../../src/provisioner';
import { eventually, snapshotCluster } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';
import { commandEnd, registrySnapshot, startApi, type Answer, type ApiUnderTest } from './support';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const small = { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 };

function assertErrorShape(r: Answer, what: string): void {
  assert.equal(typeof r.json?.error?.code, 'string', `${what}: error.code in ${r.text.slice(0, 300)}`);
  assert.equal(typeof r.json?.error?.message, 'string', `${what}: error.message`);
  assert.equal(typeof r.json?.error?.details, 'object', `${what}: error.details`);
}

/** A metric's value in Prometheus text, summed over the series whose labels include `labels`. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('REST API on a real stack', () => {
  let stack: Stack;
  let api: ApiUnderTest;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }] });
    api = await startApi(stack);
  });
  after(async () => {
    await api?.close();
    await stack?.stop();
  });

  test('the OpenAPI document is valid OpenAPI 3.1 and holds every route with its role', async () => {
    const r = await api.request('GET', '/openapi.json', { token: null });
    assert.equal(r.status, 200);
    const doc = r.json;
    assert.equal(doc.openapi, '3.1.0');
    await SwaggerParser.validate(structuredClone(doc));
    const routes = routeTable(api.app);
    assert.ok(routes.length >= 45, `only ${routes.length} routes`);
    for (const route of routes) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${route.url} is not in the OpenAPI document`);
      assert.equal(op['x-vmflow-role'], route.role, `${route.method} ${route.url} role`);
      assert.deepEqual(op.security, route.role === 'public' ? [] : [{ bearer: [] }]);
    }
  });

  test('create → migrate → destroy over HTTP, each followed through its command href', async () => {
    const created = await api.request('POST', '/v1/containers', { body: { name: 'api-web', definition: small, hint: 'hv-1' } });
    assert.equal(created.status, 202, created.text);
    assert.match(created.json.workflowId, /^container\/api-web\/create\//);
    assert.equal(created.json.href, `/v1/commands/${created.json.workflowId}`);
    assert.equal(created.headers.get('location'), created.json.href);
    assert.ok(created.json.webUi.includes('/namespaces/default/workflows/'));
    const c = await commandEnd(api, created.json.href);
    assert.equal(c.status, 'COMPLETED', JSON.stringify(c));
    assert.equal(c.result.state, 'running');
    assert.match(c.startedAt, ISO);
    assert.match(c.closedAt, ISO);

    const node = await api.request('GET', '/v1/containers/api-web');
    assert.equal(node.status, 200);
    assert.equal(node.json.state, 'running');
    assert.match(node.json.createdAt, ISO);
    const parent = await api.request('GET', node.json.parent.href);
    assert.equal(parent.json.name, 'hv-1');
    assert.equal((await api.request('GET', node.json.href)).json.name, 'api-web', 'a container href resolves');

    const moved = await api.request('POST', '/v1/containers/api-web/migrate', { body: { target: 'hv-2' } });
    assert.equal(moved.status, 202, moved.text);
    const m = await commandEnd(api, moved.json.href);
    assert.equal(m.status, 'COMPLETED', JSON.stringify(m));
    assert.deepEqual(m.hosts.map((h: { name: string }) => h.name).sort(), ['hv-1', 'hv-2']);
    const after = (await api.request('GET', '/v1/containers/api-web')).json;
    assert.equal(after.parent.name, 'hv-2');
    assert.equal((await stack.sim.admin.vm('hv-2', 'api-web'))?.state, 'running');
    assert.equal(await stack.sim.admin.vm('hv-1', 'api-web'), undefined);

    const destroyed = await api.request('DELETE', '/v1/containers/api-web');
    assert.equal(destroyed.status, 202, destroyed.text);
    assert.equal((await commandEnd(api, destroyed.json.href)).status, 'COMPLETED');
    const gone = await api.request('GET', '/v1/containers/api-web');
    assert.equal(gone.status, 404);
    assertErrorShape(gone, 'gone');
    assert.equal((await api.request('GET', '/v1/keys/name:api-web')).status, 404);

    // Visibility is eventually consistent: the three commands show up by container, and the
    // migration by the hosts it touched.
    const listed = await eventually(async () => {
      const r = await api.request('GET', '/v1/commands?container=api-web');
      return r.json.items.length >= 3 ? r.json.items : undefined;
    });
    assert.deepEqual(listed.map((x: { command: string }) => x.command).sort(), ['create', 'destroy', 'migrate']);
    // The same three a page of one at a time, by nextPageToken from Temporal visibility.
    const paged: string[] = [];
    let token: string | undefined;
    do {
      const r = await api.request('GET', `/v1/commands?container=api-web&limit=1${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`);
      assert.equal(r.status, 200);
      assert.ok(r.json.items.length <= 1);
      paged.push(...r.json.items.map((x: { workflowId: string }) => x.workflowId));
      token = r.json.nextPageToken;
    } while (token && paged.length < 10);
    assert.deepEqual([...paged].sort(), listed.map((x: { workflowId: string }) => x.workflowId).sort());
    const byHost = await eventually(async () => {
      const r = await api.request('GET', '/v1/commands?hypervisor=hv-2&command=migrate&status=Completed');
      return r.json.items.length ? r.json.items : undefined;
    });
    assert.equal(byHost[0].workflowId, moved.json.workflowId);
  });

  test('GET /v1/containers pages by pageToken: each container once, in name order, with exactly the resource fields', async () => {
    const registry = stack.services.registry;
    const host = await registry.getByName('hv-1');
    const names = ['pg-a', 'pg-a-1', 'pg-a.1', 'pg-a0', 'pg-b', 'pg-b_2', 'pg-c', 'pg-d', 'pg-e'];
    for (const name of names) await registry.add({ type: 'container', name, definition: { ...small, network: { ip: '10.77.0.1', mac: '02:00:0a:4d:00:01' } }, state: 'stopped', parentId: host.id });
    const walk = async (between?: (page: number) => Promise<void>) => {
      const seen: any[] = [];
      let token: string | undefined;
      for (let page = 0; page < 100; page++) {
        const r = await api.request('GET', `/v1/containers?limit=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`, { token: api.tokens.viewer });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.limit, 2);
        assert.ok(r.json.items.length <= 2 && r.json.items.length > 0, `a page of 1 or 2: ${r.text.slice(0, 200)}`);
        seen.push(...r.json.items);
        token = r.json.nextPageToken;
        if (!token) return seen;
        await between?.(page);
      }
      throw new Error('no last page');
    };
    const all = await walk();
    const listed = all.map((c) => c.name);
    assert.deepEqual(listed, [...listed].sort(), 'name order');
    assert.equal(new Set(listed).size, listed.length, 'each container once');
    assert.deepEqual(listed.filter((n) => n.startsWith('pg-')), [...names].sort());
    // JSON.stringify writes the presented resource: exactly the documented fields, the host linked by name.
    const doc = (await api.request('GET', '/openapi.json')).json;
    const fields = Object.keys(doc.paths['/v1/containers'].get.responses['200'].content['application/json'].schema.properties.items.items.properties).sort();
    const one = all.find((c) => c.name === 'pg-a')!;
    assert.deepEqual(Object.keys(one).sort(), fields);
    assert.deepEqual(one.parent, { id: host.id, name: 'hv-1', href: `/v1/hypervisors/${host.id}` });
    assert.equal(one.environment, null);
    assert.deepEqual(one.keys, ['name:pg-a']);
    assert.deepEqual((await api.request('GET', '/v1/containers/pg-a')).json, one);
    // Removed and added between pages: the survivors once and in order, the one added after the cursor too.
    const pg = await walk(async (page) => {
      if (page !== 0) return;
      await registry.remove((await registry.getByName('pg-c')).id);
      await registry.add({ type: 'container', name: 'pg-cc', definition: small, state: 'stopped', parentId: host.id });
    });
    assert.deepEqual(
      pg.map((c) => c.name).filter((n) => n.startsWith('pg-')),
      ['pg-a', 'pg-a-1', 'pg-a.1', 'pg-a0', 'pg-b', 'pg-b_2', 'pg-cc', 'pg-d', 'pg-e'],
    );
    const bad = await api.request('GET', '/v1/containers?pageToken=bm9wZQ', { token: api.tokens.viewer });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.json.error.message, /pageToken is not a page token from this list/);
    for (const name of [...names.filter((n) => n !== 'pg-c'), 'pg-cc']) await registry.remove((await registry.getByName(name)).id);
  });

  test('a queued migration is retargeted with modify and cancelled; a running stop is cancelled; an ended command refuses cancel', async () => {
    const created = await api.request('POST', '/v1/containers', { body: { name: 'slow1', definition: small, hint: 'hv-3' } });
    assert.equal((await commandEnd(api, created.json.href)).status, 'COMPLETED');
    await stack.sim.admin.setDelays({ stop: 30_000 }, 'hv-3');
    try {
      const stop = await api.request('POST', '/v1/containers/slow1/stop', { body: {} });
      assert.equal(stop.status, 202, stop.text);
      await eventually(async () => (await api.request('GET', stop.json.href)).json.progress?.phase === 'running', 20_000, 'the stop to run');
      const migrate = await api.request('POST', '/v1/containers/slow1/migrate', { body: {} });
      assert.equal(migrate.status, 202, migrate.text);
      const queued = await api.request('GET', migrate.json.href);
      assert.equal(queued.json.progress?.phase, 'queued', queued.text);
      const modified = await api.request('POST', `${migrate.json.href}/modify`, { body: { target: 'hv-2' } });
      assert.equal(modified.status, 200, modified.text);
      assert.equal(modified.json.target, 'hv-2');
      const notMigration = await api.request('POST', `${stop.json.href}/modify`, { body: { target: 'hv-2' } });
      assert.equal(notMigration.status, 409, 'only a migration is modified');
      assert.match(notMigration.json.error.message, /only a migration/);

      assert.equal((await api.request('POST', `${migrate.json.href}/cancel`, { body: {} })).status, 202);
      const dropped = await commandEnd(api, migrate.json.href);
      assert.equal(dropped.status, 'CANCELLED', JSON.stringify(dropped));
      assert.equal(dropped.error.code, 'CANCELLED');

      assert.equal((await api.request('POST', `${stop.json.href}/cancel`, { body: {} })).status, 202);
      const undone = await commandEnd(api, stop.json.href);
      assert.equal(undone.status, 'CANCELLED', JSON.stringify(undone));
      const again = await api.request('POST', `${stop.json.href}/cancel`, { body: {} });
      assert.equal(again.status, 409);
      assert.match(again.json.error.message, /already ended/);
      assert.equal((await stack.client.containers.get('slow1')).parentId, (await stack.client.hypervisors.get('hv-3')).id, 'the cancelled migration never moved it');
    } finally {
      await stack.sim.admin.setDelays({ stop: null }, 'hv-3');
    }
  });

  test('hypervisors: add, drain, undrain; remove is refused while a container is on it, then allowed', async () => {
    await stack.sim.admin.addHost({ id: 'hv-x', cpus: 4, memoryMiB: 4096, diskGiB: 100 });
    const added = await api.request('POST', '/v1/hypervisors', {
      body: { name: 'hv-x', definition: { driver: 'sim', address: stack.sim.hostAddress('hv-x'), capacity: { cpus: 4, memoryMiB: 4096, diskGiB: 100 } } },
    });
    assert.equal(added.status, 201, added.text);
    assert.equal(added.json.state, 'up');
    const created = await api.request('POST', '/v1/containers', { body: { name: 'on-x', definition: small, hint: 'hv-x' } });
    assert.equal((await commandEnd(api, created.json.href)).status, 'COMPLETED');

    const drained = await api.request('POST', '/v1/hypervisors/hv-x/drain', { body: { reason: 'maintenance', keep: true } });
    assert.equal(drained.status, 200, drained.text);
    assert.equal(drained.json.state, 'draining');
    assert.equal((await stack.client.hypervisors.get('hv-x')).state, 'draining');
    const agent = await api.request('GET', `/v1/agents/${added.json.id}`);
    assert.equal(agent.json.state, 'draining');
    assert.equal(agent.json.containers, 1);

    const refused = await api.request('DELETE', '/v1/hypervisors/hv-x');
    assert.equal(refused.status, 409);
    assert.match(refused.json.error.message, /1 container/);
    assert.equal((await api.request('POST', '/v1/hypervisors/hv-x/undrain', { body: {} })).json.state, 'up');

    assert.equal((await commandEnd(api, (await api.request('DELETE', '/v1/containers/on-x')).json.href)).status, 'COMPLETED');
    const removed = await api.request('DELETE', `/v1/hypervisors/${added.json.id}`);
    assert.equal(removed.status, 204, removed.text);
    assert.equal((await api.request('GET', '/v1/hypervisors/hv-x')).status, 404);
  });

  test('environments: create, add a new member, read it with links, destroy it', async () => {
    const created = await api.request('POST', '/v1/environments', { body: { name: 'api-env', description: 'shop' } });
    assert.equal(created.status, 202, created.text);
    assert.equal((await commandEnd(api, created.json.href)).status, 'COMPLETED');
    const added = await api.request('POST', '/v1/environments/api-env/members', { body: { create: { name: 'api-db', definition: { ...small, kind: 'db' } } } });
    assert.equal(added.status, 202, added.text);
    assert.equal((await commandEnd(api, added.json.href)).status, 'COMPLETED');
    const env = await api.request('GET', '/v1/environments/api-env');
    assert.equal(env.json.members.items.length, 1);
    const member = env.json.members.items[0];
    assert.equal(member.name, 'api-db');
    assert.equal((await api.request('GET', member.href)).json.environment.href, env.json.href);
    assert.equal((await api.request('GET', member.host.href)).status, 200);
    const destroyed = await api.request('DELETE', '/v1/environments/api-env');
    assert.equal((await commandEnd(api, destroyed.json.href)).status, 'COMPLETED');
    assert.equal((await api.request('GET', '/v1/containers/api-db')).status, 404);
  });

  test('/metrics moves when commands run: requests by route and status, commands started and completed by type', async () => {
    const before = (await api.request('GET', '/metrics', { token: api.tokens.viewer })).text;
    const r = await api.request('POST', '/v1/containers', { body: { name: 'metered', definition: small, start: false } });
    await commandEnd(api, r.json.href);
    await api.request('POST', '/v1/containers/metered/start', { body: {} }).then((s) => commandEnd(api, s.json.href));
    await api.request('POST', '/v1/containers/metered/start', { body: {} });
    const text = await eventually(async () => {
      const t = (await api.request('GET', '/metrics', { token: api.tokens.viewer })).text;
      return metric(t, 'vmflow_commands_completed_total', { command: 'start' }) > metric(before, 'vmflow_commands_completed_total', { command: 'start' }) ? t : undefined;
    });
    assert.equal(metric(text, 'vmflow_commands_started_total', { command: 'create' }) - metric(before, 'vmflow_commands_started_total', { command: 'create' }), 1);
    assert.equal(metric(text, 'vmflow_commands_completed_total', { command: 'create' }) - metric(before, 'vmflow_commands_completed_total', { command: 'create' }), 1);
    assert.ok(metric(text, 'vmflow_api_requests_total', { route: '/v1/containers/:ref/start', status: '409' }) >= 1, 'the refused second start is counted by status');
    assert.ok(metric(text, 'vmflow_api_request_duration_seconds_count', { route: '/v1/containers' }) > metric(before, 'vmflow_api_request_duration_seconds_count', { route: '/v1/containers' }));
    assert.ok(metric(text, 'vmflow_registry_nodes', { type: 'container' }) >= 1);
  });

  test('every log line about a command carries its command id and workflow id', async () => {
    const lines: Array<Record<string, any>> = [];
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
    const logged = await startApi(stack, {}, { logger });
    let accepted: Answer;
    try {
      accepted = await logged.request('POST', '/v1/containers', { body: { name: 'logged', definition: small, start: false } });
      await commandEnd(logged, accepted.json.href);
      await logged.request('POST', `${accepted.json.href}/cancel`, { body: {} });
    } finally {
      await logged.close();
    }
    const { commandId, workflowId, href } = accepted.json;
    const line = lines.find((l) => String(l.msg).startsWith('accepted container command create'));
    assert.ok(line, 'the acceptance is logged');
    assert.equal(line.commandId, commandId);
    assert.equal(line.workflowId, workflowId);
    assert.match(line.time, ISO);
    const reads = new Set(lines.filter((l) => String(l.req?.url).startsWith(href)).map((l) => l.reqId));
    assert.ok(reads.size >= 2, 'the command reads are logged');
    for (const l of lines.filter((x) => reads.has(x.reqId))) {
      assert.equal(l.commandId, commandId, JSON.stringify(l));
      assert.equal(l.workflowId, workflowId, JSON.stringify(l));
    }
  });

  test('health, unknown routes and controller information', async () => {
    const h = await api.request('GET', '/healthz', { token: null });
    assert.equal(h.status, 200);
    assert.deepEqual(h.json.checks, { registry: 'ok', temporal: 'ok' });
    const missing = await api.request('GET', '/v1/nope');
    assert.equal(missing.status, 404);
    assertErrorShape(missing, 'unknown route');
    const c = await api.request('GET', '/v1/controller', { token: api.tokens.viewer });
    assert.equal(c.status, 200);
    assert.ok(c.json.requests.handled > 0);
    assert.equal(c.json.requests.serverErrors, 0);
  });

  describe('bad input', () => {
    // A valid body for each mutating route; params are filled with existing targets.
    const BODIES: Record<string, unknown> = {
      'POST /v1/hypervisors': { name: 'hv-new', definition: { driver: 'sim', address: 'http://127.0.0.1:1/hosts/x', capacity: { cpus: 1, memoryMiB: 1, diskGiB: 1 } } },
      'POST /v1/hypervisors/:ref/drain': { reason: 'why' },
      'POST /v1/containers': { name: 'new-one', definition: small },
      'POST /v1/containers/:ref/shutdown': { timeoutMs: 1000 },
      'POST /v1/containers/:ref/update': { definition: { cpus: 2 } },
      'POST /v1/containers/:ref/clone': { name: 'copy-one' },
      'POST /v1/containers/:ref/migrate': { target: 'hv-2' },
      'POST /v1/environments': { name: 'env-new' },
      'POST /v1/environments/:ref/members': { container: 'bad-c1' },
      'POST /v1/environments/:ref/members/:container/down': { cause: 'gone' },
      'POST /v1/commands/:kind/:target/:command/:commandId/modify': { target: 'hv-2' },
      'POST /v1/commands/:kind/:target/:command/:commandId/reorder': { position: 0 },
      'POST /v1/tokens': { name: 'ci', role: 'viewer' },
    };
    let existing: Record<string, string>;

    before(async () => {
      await (await stack.client.containers.create('bad-c1', { definition: small, hint: 'hv-1' })).result();
      await (await stack.client.environments.create('bad-env')).result();
      const wf = (await stack.client.commands.list({ container: 'bad-c1', limit: 1 }))[0] ?? { workflowId: 'container/bad-c1/create/x' };
      const [, , command, commandId] = wf.workflowId.split('/');
      const tokenId = (await api.store.list())[0]!.id;
      existing = { hypervisors: 'hv-1', containers: 'bad-c1', environments: 'bad-env', container: 'bad-c1', kind: 'container', target: 'bad-c1', command: command!, commandId: commandId!, id: tokenId };
    });

    const fill = (url: string, values: Record<string, string>) =>
      url.replace(/:(\w+)/g, (_m, p: string) => {
        if (p === 'ref') return values[url.split('/')[2]!]!;
        return values[p]!;
      });
    const unknown = { hypervisors: 'no-such-host', containers: 'no-such-ct', environments: 'no-such-env', container: 'no-such-ct', kind: 'container', target: 'no-such-ct', command: 'migrate', commandId: 'no-such-command', id: '000000000000' };
    const mutating = () => routeTable(api.app).filter((r) => r.method !== 'GET');
    const flip = (v: unknown): unknown => (typeof v === 'number' ? String(v) : typeof v === 'string' ? 12 : typeof v === 'boolean' ? 'yes' : Array.isArray(v) ? {} : 'text');

    test('malformed JSON, wrong types, unknown fields, oversized bodies and unknown ids get 4xx with a clear message; nothing changes', async () => {
      const snapshot = await registrySnapshot(stack, api.store);
      const cases: Array<{ what: string; method: string; url: string; options: Parameters<ApiUnderTest['request']>[2]; status: number; message?: RegExp }> = [];
      for (const r of mutating()) {
        const key = `${r.method} ${r.url}`;
        const url = fill(r.url, existing);
        const hasBody = r.method === 'POST';
        const valid = (BODIES[key] ?? {}) as Record<string, unknown>;
        if (hasBody) {
          cases.push({ what: `${key} malformed`, method: r.method, url, options: { raw: '{"name": ' }, status: 400, message: /not valid JSON/ });
          cases.push({ what: `${key} not an object`, method: r.method, url, options: { raw: '[1,2]' }, status: 400, message: /must be an? object/ });
          for (const field of Object.keys(valid)) cases.push({ what: `${key} ${field} of the wrong type`, method: r.method, url, options: { body: { ...valid, [field]: flip(valid[field]) } }, status: 400, message: new RegExp(`body\\.${field}`) });
          cases.push({ what: `${key} unknown field`, method: r.method, url, options: { body: { ...valid, bogus: 1 } }, status: 400, message: /body\.bogus is not a known field/ });
          cases.push({ what: `${key} oversized`, method: r.method, url, options: { body: { ...valid, pad: 'x'.repeat(300_000) } }, status: 413, message: /larger than/ });
          cases.push({ what: `${key} as text/plain`, method: r.method, url, options: { raw: JSON.stringify(valid), contentType: 'text/plain' }, status: 415 });
        }
        if (r.url.includes(':')) {
          cases.push({ what: `${key} unknown id`, method: r.method, url: fill(r.url, unknown), options: hasBody ? { body: valid } : {}, status: 404, message: /not found/ });
          cases.push({ what: `${key} malformed id`, method: r.method, url: fill(r.url, Object.fromEntries(Object.keys(unknown).map((k) => [k, 'Not_A%20Name']))), options: hasBody ? { body: valid } : {}, status: 400 });
        }
      }
      cases.push({ what: 'create with a hint that names no host', method: 'POST', url: '/v1/containers', options: { body: { name: 'hinted', definition: small, hint: 'no-such-host' } }, status: 404, message: /hypervisor no-such-host not found/ });
      assert.ok(cases.length > 150, `${cases.length} cases`);
      for (const c of cases) {
        const r = await api.request(c.method, c.url, c.options);
        assert.equal(r.status, c.status, `${c.what}: ${r.status} ${r.text.slice(0, 300)}`);
        assertErrorShape(r, c.what);
        if (c.message) assert.match(r.json.error.message, c.message, c.what);
      }
      assert.equal(await registrySnapshot(stack, api.store), snapshot, 'refused requests changed the registry');
    });

    test('fractional or absurd sizes and unknown kinds get 400 naming the field, worded alike on every route; owned ip or mac get 409 naming the key and owner; nothing changes', async () => {
      const registryBefore = await registrySnapshot(stack, api.store);
      const clusterBefore = await snapshotCluster(stack);
      const limits = { cpus: MAX_CPUS, memoryMiB: MAX_MEMORY_MIB, diskGiB: MAX_DISK_GIB };
      const sizes: Array<[keyof typeof limits, number]> = [['cpus', 1e-300], ['cpus', 0.5], ['memoryMiB', 0.001], ['cpus', 1e308], ['diskGiB', 2 ** 53 + 1], ['memoryMiB', MAX_MEMORY_MIB + 1]];
      const provisioner = new Provisioner(stack.services.registry, { kinds: stack.client.kinds.names() });
      const refused = async (url: string, body: unknown, field: string, problem: string) => {
        const r = await api.request('POST', url, { body });
        const what = `POST ${url} ${JSON.stringify(body).slice(0, 160)}`;
        assert.equal(r.status, 400, `${what}: ${r.text.slice(0, 300)}`);
        assert.equal(r.json.error.code, 'INVALID_INPUT', what);
        assert.deepEqual(r.json.error.details.problems, [{ field, problem }], what);
        assert.equal(r.json.error.message, `invalid request: ${field} ${problem}`, what);
      };
      for (const [field, value] of sizes) {
        // The wording the client and the provisioner give for the same value, so every path reads alike.
        const [expected] = provisioner.validate('container', { name: 'sized', definition: { ...small, [field]: value, network: { ip: '10.9.9.9' } } });
        assert.deepEqual(expected, { field, problem: `must be an integer from 1 to ${limits[field]}` });
        await refused('/v1/containers', { name: 'sized', definition: { ...small, [field]: value } }, `body.definition.${field}`, expected!.problem);
        await refused('/v1/containers/bad-c1/update', { definition: { [field]: value } }, `body.definition.${field}`, expected!.problem);
        await refused('/v1/environments/bad-env/members', { create: { name: 'sized', definition: { ...small, [field]: value } } }, `body.create.definition.${field}`, expected!.problem);
        const capacity = { cpus: 8, memoryMiB: 16384, diskGiB: 500, [field]: value };
        await refused('/v1/hypervisors', { name: 'hv-sized', definition: { driver: 'sim', address: stack.sim.hostAddress('hv-sized'), capacity } }, `body.definition.capacity.${field}`, expected!.problem);
      }

      const kinds = `must be one of ${stack.client.kinds.names().join(', ')}`;
      await refused('/v1/containers', { name: 'sized', definition: { ...small, kind: 'mainframe' } }, 'body.definition.kind', kinds);
      await refused('/v1/environments/bad-env/members', { create: { name: 'sized', definition: { ...small, kind: 'mainframe' } } }, 'body.create.definition.kind', kinds);
      const doc = (await api.request('GET', '/openapi.json', { token: null })).json;
      assert.deepEqual(doc.paths['/v1/containers'].post.requestBody.content['application/json'].schema.properties.definition.properties.kind.enum, stack.client.kinds.names());

      const { ip, mac } = (await stack.client.containers.get('bad-c1')).definition.network;
      const owned = async (url: string, body: unknown, key: string) => {
        const r = await api.request('POST', url, { body });
        const what = `POST ${url} ${JSON.stringify(body)}`;
        assert.equal(r.status, 409, `${what}: ${r.text.slice(0, 300)}`);
        assert.equal(r.json.error.code, 'KEY_CONFLICT', what);
        assert.equal(r.json.error.details.key, key, what);
        assert.equal(r.json.error.details.ownerName, 'bad-c1', what);
        assert.match(r.json.error.message, new RegExp(`key ${key} is already owned by bad-c1`), what);
      };
      await owned('/v1/containers', { name: 'sized', definition: { ...small, network: { ip } } }, `ip:${ip}`);
      await owned('/v1/containers', { name: 'sized', definition: { ...small, network: { ip: '10.0.200.2', mac } } }, `mac:${mac}`);
      await owned('/v1/containers/bad-c1/clone', { name: 'sized', ip }, `ip:${ip}`);
      await owned('/v1/containers/bad-c1/clone', { name: 'sized', mac }, `mac:${mac}`);
      await owned('/v1/environments/bad-env/members', { create: { name: 'sized', definition: { ...small, network: { ip } } } }, `ip:${ip}`);

      assert.equal(await registrySnapshot(stack, api.store), registryBefore, 'refused requests changed the registry');
      assert.deepEqual(await snapshotCluster(stack), clusterBefore, 'refused requests changed the registry or the sim');
      assert.deepEqual(await stack.client.commands.list({ container: 'sized' }), [], 'no command was started');
    });

    test('a seeded fuzz of 1,000 random requests over every route never gets a 5xx', async () => {
      const seed = Number(process.env.API_FUZZ_SEED ?? 20261122);
      const rnd = seededRandom(seed); // seeded, so a failing fuzz case can be replayed
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const chars = 'abcdefghijklmnopqrstuvwxyz0123456789-_.:%/ABCXYZ éλ\u0000\u2028"\'{}[]\\?#&=+';
      const str = (max: number) => Array.from({ length: Math.floor(rnd() * max) }, () => pick([...chars])).join('');
      const value = (depth: number): unknown => {
        switch (Math.floor(rnd() * (depth > 2 ? 6 : 8))) {
          case 0: return null;
          case 1: return rnd() < 0.5;
          case 2: return pick([0, -1, 1e308, -0.5, 3, 2 ** 53, NaN]);
          case 3: return str(20);
          case 4: return pick(['', 'hv-1', 'web', 'sim', 'admin', 'x'.repeat(2000), '10.0.0.5', '02:00:0a:00:00:05']);
          case 5: return str(300);
          case 6: return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
          default: return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 5) }, () => [pick(['name', 'definition', 'kind', 'cpus', 'memoryMiB', 'diskGiB', 'target', 'role', 'cause', 'container', 'create', 'tags', str(8)]), value(depth + 1)]));
        }
      };
      const mutate = (v: Record<string, unknown>): unknown => {
        const keys = Object.keys(v);
        switch (Math.floor(rnd() * 4)) {
          case 0: return { ...v, [str(6) || 'k']: value(1) };
          case 1: {
            const dropped = keys.length ? pick(keys) : undefined;
            return dropped ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== dropped)) : value(0);
          }
          case 2: return keys.length ? { ...v, [pick(keys)]: value(1) } : [v];
          default: return value(0);
        }
      };
      const param = () => pick([() => str(12), () => encodeURIComponent(str(40)), () => 'zz' + Math.floor(rnd() * 1e9).toString(36), () => 'x'.repeat(700), () => '%E0%A4%A', () => '..', () => '00000000-0000-0000-0000-000000000000'])();
      const routes = routeTable(api.app);
      const failures: string[] = [];
      let n = 0;
      const fuzzed = new Set<RouteInfo>();
      const one = async () => {
        const r = pick(routes);
        fuzzed.add(r);
        const url = r.url.replace(/:(\w+)/g, () => param());
        const query = rnd() < 0.3 ? `?${Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => `${pick(['limit', 'offset', 'state', 'host', 'tag', 'container', 'status', 'destroy', 'revoked', str(5)])}=${encodeURIComponent(String(value(2)))}`).join('&')}` : '';
        const shape = rnd();
        const options =
          r.method === 'GET'
            ? {}
            : shape < 0.45
              ? { body: mutate((BODIES[`${r.method} ${r.url}`] ?? {}) as Record<string, unknown>) }
              : shape < 0.75
                ? { body: value(0) }
                : shape < 0.9
                  ? { raw: str(60) }
                  : { raw: JSON.stringify(value(0)), contentType: pick(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8']) };
        let answer: Answer;
        const t0 = Date.now();
        try {
          answer = await api.request(r.method, `${url}${query}`, options);
          if (process.env.API_FUZZ_DEBUG && Date.now() - t0 > 500) console.log('slow', Date.now() - t0, r.method, url.slice(0, 80), JSON.stringify(options).slice(0, 200), answer.status);
        } catch (err) {
          // fetch refuses some URLs itself (it never reached the server): not an API answer.
          if (err instanceof TypeError) {
            if (process.env.API_FUZZ_DEBUG) console.log('fetch refused', r.method, url.slice(0, 100), JSON.stringify(options).slice(0, 100), (err as Error & { cause?: Error }).cause?.message ?? err.message);
            return;
          }
          throw err;
        }
        n++;
        if (answer.status >= 500) failures.push(`${r.method} ${url}${query} ${JSON.stringify(options).slice(0, 200)} → ${answer.status} ${answer.text.slice(0, 200)}`);
        else if (answer.status >= 400 && typeof answer.json?.error?.code !== 'string') failures.push(`${r.method} ${url} → ${answer.status} without the error shape: ${answer.text.slice(0, 200)}`);
      };
      for (let i = 0; i < 1000; i += 10) await Promise.all(Array.from({ length: 10 }, one));
      assert.ok(n >= 990, `only ${n} requests reached the server`);
      assert.deepEqual(routes.filter((r) => !fuzzed.has(r)).map((r) => `${r.method} ${r.url}`), [], 'every route is fuzzed');
      assert.deepEqual(failures, [], `seed ${seed}`);
    });
  });
});
