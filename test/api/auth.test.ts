// Every route × every kind of caller: no token, a malformed one, an unknown one, a revoked one and
// each role. Refused callers get 401/403 and change nothing; allowed ones get a 2xx from a real
// request on a real stack (each role drives its own containers through a valid order of commands).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { routeTable, type RouteInfo } from '../../src/api';
import { allows, ROLES, type Role } from '../../src/auth';
import { eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';
import { registrySnapshot, startApi, type ApiUnderTest } from './support';

const small = { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 };
type Call = { path: string; body?: unknown };

describe('auth: every route × every caller', () => {
  let stack: Stack;
  let api: ApiUnderTest;
  let revoked: string;
  let victim: string;
  const migration: Partial<Record<Role, string>> = {};
  const stops: string[] = [];
  let hostId: string;

  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }] });
    api = await startApi(stack);
    const r = await api.store.create({ name: 'gone', role: 'admin' });
    await api.store.revoke(r.token.id);
    revoked = r.secret;
    victim = (await api.store.create({ name: 'victim', role: 'viewer' })).token.id;
    hostId = (await stack.client.hypervisors.get('hv-1')).id;
    await stack.sim.admin.addHost({ id: 'hv-auth', cpus: 2, memoryMiB: 2048, diskGiB: 50 });
    // A host the monitor declared down, with nothing on it, for evacuate.
    await stack.sim.admin.addHost({ id: 'hv-gone', cpus: 2, memoryMiB: 2048, diskGiB: 50 });
    const gone = await stack.client.hypervisors.add('hv-gone', { driver: 'sim', address: stack.sim.hostAddress('hv-gone'), capacity: { cpus: 2, memoryMiB: 2048, diskGiB: 50 } });
    await stack.services.registry.update(gone.id, undefined, { state: 'down' });
    const ready: Promise<unknown>[] = [];
    for (const role of ['operator', 'admin'] as const) {
      ready.push((await stack.client.containers.create(`c-${role}`, { definition: small, hint: 'hv-1' })).result());
      ready.push((await stack.client.containers.create(`q-${role}`, { definition: small, hint: 'hv-3' })).result());
      ready.push((await stack.client.environments.create(`e-${role}`)).result());
    }
    await Promise.all(ready);
    // A slow stop holds each q- container, so the migration queued behind it can be modified and cancelled.
    await stack.sim.admin.setDelays({ stop: 60_000 }, 'hv-3');
    for (const role of ['operator', 'admin'] as const) {
      stops.push((await stack.client.containers.stop(`q-${role}`)).workflowId);
      migration[role] = (await stack.client.containers.migrate(`q-${role}`)).workflowId;
    }
  });

  after(async () => {
    for (const wf of stops) await stack.client.commands.handle(wf).cancel().catch(() => undefined);
    await stack?.sim.admin.setDelays({ stop: null }, 'hv-3').catch(() => undefined);
    await api?.close();
    await stack?.stop();
  });

  /** A request that succeeds for `role`; containers and environments are the role's own. */
  const FIXTURES: Record<string, (role: Role) => Call> = {
    // First, while every environment exists: each gets one controller event queued.
    'POST /v1/controller/start': () => ({ path: '/v1/controller/start', body: {} }),
    'POST /v1/controller/stop': () => ({ path: '/v1/controller/stop', body: {} }),
    'POST /v1/hypervisors': () => ({ path: '/v1/hypervisors', body: { name: 'hv-auth', definition: { driver: 'sim', address: stack.sim.hostAddress('hv-auth'), capacity: { cpus: 2, memoryMiB: 2048, diskGiB: 50 } } } }),
    'POST /v1/hypervisors/:ref/drain': () => ({ path: '/v1/hypervisors/hv-auth/drain', body: { keep: true } }),
    'POST /v1/hypervisors/:ref/evacuate': () => ({ path: '/v1/hypervisors/hv-gone/evacuate', body: {} }),
    'POST /v1/hypervisors/:ref/undrain': () => ({ path: '/v1/hypervisors/hv-auth/undrain', body: {} }),
    'DELETE /v1/hypervisors/:ref': () => ({ path: '/v1/hypervisors/hv-auth' }),
    'POST /v1/containers': (r) => ({ path: '/v1/containers', body: { name: `n-${r}`, definition: small, start: false } }),
    'POST /v1/containers/:ref/reboot': (r) => ({ path: `/v1/containers/c-${r}/reboot`, body: {} }),
    'POST /v1/containers/:ref/migrate': (r) => ({ path: `/v1/containers/c-${r}/migrate`, body: {} }),
    'POST /v1/containers/:ref/suspend': (r) => ({ path: `/v1/containers/c-${r}/suspend`, body: {} }),
    'POST /v1/containers/:ref/resume': (r) => ({ path: `/v1/containers/c-${r}/resume`, body: {} }),
    'POST /v1/containers/:ref/shutdown': (r) => ({ path: `/v1/containers/c-${r}/shutdown`, body: { timeoutMs: 5000 } }),
    'POST /v1/containers/:ref/update': (r) => ({ path: `/v1/containers/c-${r}/update`, body: { definition: { cpus: 2 } } }),
    'POST /v1/containers/:ref/clone': (r) => ({ path: `/v1/containers/c-${r}/clone`, body: { name: `k-${r}` } }),
    'POST /v1/containers/:ref/start': (r) => ({ path: `/v1/containers/c-${r}/start`, body: {} }),
    'POST /v1/containers/:ref/stop': (r) => ({ path: `/v1/containers/c-${r}/stop`, body: {} }),
    'POST /v1/containers/:ref/reconcile': (r) => ({ path: `/v1/containers/c-${r}/reconcile`, body: {} }),
    'DELETE /v1/containers/:ref': (r) => ({ path: `/v1/containers/c-${r}` }),
    'POST /v1/environments': (r) => ({ path: '/v1/environments', body: { name: `ne-${r}` } }),
    'POST /v1/environments/:ref/members': (r) => ({ path: `/v1/environments/e-${r}/members`, body: { create: { name: `m-${r}`, definition: small } } }),
    'POST /v1/environments/:ref/members/:container/down': (r) => ({ path: `/v1/environments/e-${r}/members/m-${r}/down`, body: { cause: 'test' } }),
    'POST /v1/environments/:ref/members/:container/up': (r) => ({ path: `/v1/environments/e-${r}/members/m-${r}/up`, body: {} }),
    'DELETE /v1/environments/:ref/members/:container': (r) => ({ path: `/v1/environments/e-${r}/members/m-${r}?destroy=true` }),
    'POST /v1/environments/:ref/start': (r) => ({ path: `/v1/environments/e-${r}/start`, body: {} }),
    'POST /v1/environments/:ref/stop': (r) => ({ path: `/v1/environments/e-${r}/stop`, body: {} }),
    'POST /v1/environments/:ref/suspend': (r) => ({ path: `/v1/environments/e-${r}/suspend`, body: {} }),
    'POST /v1/environments/:ref/resume': (r) => ({ path: `/v1/environments/e-${r}/resume`, body: {} }),
    'DELETE /v1/environments/:ref': (r) => ({ path: `/v1/environments/e-${r}` }),
    'POST /v1/commands/:kind/:target/:command/:commandId/reorder': (r) => ({ path: `/v1/commands/${migration[r]}/reorder`, body: { position: 1 } }),
    'POST /v1/commands/:kind/:target/:command/:commandId/modify': (r) => ({ path: `/v1/commands/${migration[r]}/modify`, body: { target: 'hv-2' } }),
    'POST /v1/commands/:kind/:target/:command/:commandId/cancel': (r) => ({ path: `/v1/commands/${migration[r]}/cancel`, body: {} }),
    'POST /v1/tokens': () => ({ path: '/v1/tokens', body: { name: 'made-by-test', role: 'viewer' } }),
    'DELETE /v1/tokens/:id': () => ({ path: `/v1/tokens/${victim}` }),
  };
  /** Read routes: the same request for every role. */
  const READS: Record<string, () => string> = {
    'GET /v1/hypervisors/:ref': () => '/v1/hypervisors/hv-1',
    'GET /v1/hypervisors/:ref/containers': () => '/v1/hypervisors/hv-1/containers',
    'GET /v1/hypervisors/:ref/children': () => '/v1/hypervisors/hv-1/children',
    'GET /v1/containers/:ref': () => '/v1/containers/c-admin',
    'GET /v1/containers/:ref/queue': () => '/v1/containers/c-admin/queue',
    'GET /v1/containers/:ref/events': () => '/v1/containers/c-admin/events',
    'GET /v1/environments/:ref': () => '/v1/environments/e-admin',
    'GET /v1/environments/:ref/members': () => '/v1/environments/e-admin/members',
    'GET /v1/environments/:ref/events': () => '/v1/environments/e-admin/events',
    'GET /v1/environments/:ref/upstreams': () => '/v1/environments/e-admin/upstreams',
    'GET /v1/hypervisors/:ref/events': () => '/v1/hypervisors/hv-1/events',
    'GET /v1/hypervisors/:ref/samples': () => '/v1/hypervisors/hv-1/samples',
    'GET /v1/containers/:ref/files': () => '/v1/containers/c-admin/files',
    'GET /v1/commands/:kind/:target/:command/:commandId': () => `/v1/commands/${migration.admin}`,
    'GET /v1/keys/:key': () => '/v1/keys/name:c-admin',
    'GET /v1/agents/:ref': () => '/v1/agents/hv-1',
    'GET /v1/nodes/:id': () => `/v1/nodes/${hostId}`,
  };
  const keyOf = (r: RouteInfo) => `${r.method} ${r.url}`;
  const callFor = (r: RouteInfo, role: Role): Call => {
    const fixture = FIXTURES[keyOf(r)];
    if (fixture) return fixture(role);
    const read = READS[keyOf(r)];
    if (read) return { path: read() };
    assert.ok(!r.url.includes(':') && r.method === 'GET', `no fixture for ${keyOf(r)}`);
    return { path: r.url };
  };

  test('every route has a fixture and declares a role', () => {
    const routes = routeTable(api.app);
    assert.ok(routes.length >= 45);
    for (const r of routes) {
      assert.ok(r.role === 'public' || ROLES.includes(r.role as Role), `${keyOf(r)} role ${r.role}`);
      callFor(r, 'admin');
    }
    assert.deepEqual(
      routes.filter((r) => r.role === 'public').map(keyOf).sort(),
      ['GET /healthz', 'GET /openapi.json'],
      'only health and the OpenAPI document are public',
    );
  });

  test('refused callers get 401 or 403 with the error shape, and change nothing', async () => {
    const before = await registrySnapshot(stack, api.store);
    const started = async () => (await api.request('GET', '/metrics')).text.split('\n').filter((l) => l.startsWith('vmflow_commands_started_total'));
    // The queued migrations count as started at their first workflow task, which a loaded worker may not have run yet.
    const metricsBefore = await eventually(async () => {
      const lines = await started();
      return lines.includes('vmflow_commands_started_total{command="migrate",kind="container"} 2') && lines;
    }, 30_000, 'both queued migrations to have run their first workflow task');
    const callers: Array<{ name: string; token: string | null; status: number; role?: Role }> = [
      { name: 'no token', token: null, status: 401 },
      { name: 'malformed token', token: 'not-a-token', status: 401 },
      { name: 'unknown token', token: `vmflow_0123456789ab_${'A'.repeat(43)}`, status: 401 },
      { name: 'revoked token', token: revoked, status: 401 },
      ...ROLES.map((role) => ({ name: role, token: api.tokens[role], status: 403, role })),
    ];
    let refused = 0;
    for (const r of routeTable(api.app)) {
      if (r.role === 'public') continue;
      for (const c of callers) {
        if (c.role && allows(c.role, r.role)) continue;
        const call = callFor(r, 'admin');
        const answer = await api.request(r.method, call.path, { token: c.token, ...(call.body !== undefined ? { body: call.body } : {}) });
        assert.equal(answer.status, c.status, `${keyOf(r)} as ${c.name}: ${answer.text.slice(0, 200)}`);
        assert.equal(answer.json?.error?.code, c.status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN');
        if (c.status === 403) assert.match(answer.json.error.message, new RegExp(`needs ${r.role}`));
        refused++;
      }
    }
    assert.ok(refused > 200, `${refused} refusals`);
    assert.equal(await registrySnapshot(stack, api.store), before, 'a refused request changed the registry');
    const metricsAfter = await started();
    assert.deepEqual(metricsAfter, metricsBefore, 'a refused request started a command');
  });

  test('each allowed role gets a 2xx on every route', async () => {
    const routes = routeTable(api.app);
    const order = Object.keys(FIXTURES);
    const rank = (r: RouteInfo) => (order.includes(keyOf(r)) ? order.indexOf(keyOf(r)) : -1);
    const sorted = [...routes].sort((a, b) => rank(a) - rank(b));
    let allowed = 0;
    for (const r of sorted) {
      const roles: Array<Role | null> = r.role === 'public' ? [null, ...ROLES] : ROLES.filter((role) => allows(role, r.role));
      for (const role of roles) {
        const call = callFor(r, role ?? 'admin');
        const answer = await api.request(r.method, call.path, { token: role ? api.tokens[role] : null, ...(call.body !== undefined ? { body: call.body } : {}) });
        assert.ok(answer.status >= 200 && answer.status < 300, `${keyOf(r)} as ${role ?? 'anyone'}: ${answer.status} ${answer.text.slice(0, 300)}`);
        allowed++;
      }
    }
    assert.ok(allowed > 80, `${allowed} allowed calls`);
  });

  test('VMFLOW_API_ANONYMOUS_ROLE=viewer lets requests without a token read, and nothing more', async () => {
    const open = await startApi(stack, { VMFLOW_API_ANONYMOUS_ROLE: 'viewer' });
    try {
      assert.equal((await open.request('GET', '/v1/containers', { token: null })).status, 200);
      const write = await open.request('POST', '/v1/containers/c-admin/reboot', { token: null, body: {} });
      assert.equal(write.status, 403);
      assert.equal((await open.request('GET', '/v1/containers', { token: 'garbage' })).status, 401, 'a bad token is still refused');
    } finally {
      await open.close();
    }
  });
});
