// The REST API's second round of surfaces on a real stack: every error is an RFC 9457 problem
// (in the OpenAPI document too); Idempotency-Key on the requests that start commands; a create no
// host has room for is refused with the rejection counts; event histories of containers and
// environments; an environment's state follows its members; a queued command moves in its queue;
// a retarget shows in the command's summary.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';
import { commandEnd, registrySnapshot, startApi, type Answer, type ApiUnderTest } from './support';

const small = { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 };

function assertProblem(r: Answer, status: number, code: string, instance: string): void {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.json.type, `urn:vmflow:problem:${code.toLowerCase().replace(/_/g, '-')}`);
  assert.equal(typeof r.json.title, 'string');
  assert.equal(r.json.status, status);
  assert.equal(typeof r.json.detail, 'string');
  assert.equal(r.json.instance, instance);
  assert.equal(r.json.code, code);
  assert.deepEqual(r.json.error, { code, message: r.json.detail, details: r.json.details });
}

describe('REST API surfaces', () => {
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
  const done = async (r: Answer) => {
    assert.equal(r.status, 202, r.text);
    const c = await commandEnd(api, r.json.href);
    assert.equal(c.status, 'COMPLETED', JSON.stringify(c));
    return c;
  };

  test('every error is an RFC 9457 problem, and the OpenAPI document says so', async () => {
    assertProblem(await api.request('GET', '/v1/nowhere'), 404, 'NOT_FOUND', '/v1/nowhere');
    assertProblem(await api.request('GET', '/v1/containers?limit=0'), 400, 'INVALID_INPUT', '/v1/containers');
    assertProblem(await api.request('GET', '/v1/containers', { token: null }), 401, 'UNAUTHENTICATED', '/v1/containers');
    assertProblem(await api.request('POST', '/v1/containers', { token: api.tokens.viewer, body: { name: 'x', definition: small } }), 403, 'FORBIDDEN', '/v1/containers');
    assertProblem(await api.request('GET', '/v1/containers/nobody'), 404, 'NOT_FOUND', '/v1/containers/nobody');
    assertProblem(await api.request('POST', '/v1/containers', { raw: '{"name":' }), 400, 'INVALID_INPUT', '/v1/containers');
    const doc = (await api.request('GET', '/openapi.json', { token: null })).json;
    const create = doc.paths['/v1/containers'].post;
    for (const status of ['400', '401', '403', '404', '409', '422']) {
      const schema = create.responses[status].content['application/problem+json'].schema;
      assert.deepEqual(['type', 'title', 'status', 'detail', 'instance', 'code', 'details', 'error'].filter((f) => !schema.properties[f]), [], `${status} documents every field`);
    }
    const header = create.parameters.find((p: { in: string; name: string }) => p.in === 'header' && p.name === 'idempotency-key');
    assert.ok(header, 'POST /v1/containers documents Idempotency-Key');
    assert.ok(doc.paths['/v1/containers/{ref}/stop'].post.parameters.some((p: { name: string }) => p.name === 'idempotency-key'));
  });

  test('a create no host has room for is refused with 422 and the rejection counts, and starts nothing', async () => {
    const before = await registrySnapshot(stack, api.store);
    const r = await api.request('POST', '/v1/containers', { body: { name: 'too-big', definition: { ...small, cpus: 1000 } } });
    assertProblem(r, 422, 'NO_CAPACITY', '/v1/containers');
    assert.deepEqual(r.json.details.reasons, { 'full on cpu': 3 });
    assert.equal(r.json.detail, 'no capacity for too-big: 3 hosts full on cpu');
    const hinted = await api.request('POST', '/v1/containers', { body: { name: 'too-big', definition: { ...small, cpus: 1000 }, hint: 'hv-2' } });
    assertProblem(hinted, 422, 'NO_CAPACITY', '/v1/containers');
    assert.match(hinted.json.detail, /^no capacity for too-big on hv-2: /);
    assert.equal(await registrySnapshot(stack, api.store), before);
    assert.deepEqual(await stack.client.commands.list({ container: 'too-big' }), []);
  });

  test("a claim the registry refuses names the host by its name", async () => {
    const host = await stack.client.hypervisors.get('hv-3');
    await assert.rejects(
      stack.services.registry.claim({ commandId: randomUUID(), hostId: host.id, containerName: 'greedy', resources: { cpus: 1000, memoryMiB: 1, diskGiB: 1 }, ttlSeconds: 60 }),
      (err: Error) => {
        assert.equal(err.message, 'no capacity for greedy on hv-3: 1 host full on cpu');
        return true;
      },
    );
  });

  test('Idempotency-Key: the same request again answers the first 202 and starts nothing; another request with the key is refused', async () => {
    const key = randomUUID();
    const body = { name: 'idem-1', definition: small, hint: 'hv-1' };
    const first = await api.request('POST', '/v1/containers', { body, headers: { 'idempotency-key': key } });
    assert.equal(first.status, 202, first.text);
    const again = await api.request('POST', '/v1/containers', { body: { hint: 'hv-1', definition: { diskGiB: 5, memoryMiB: 512, cpus: 1, kind: 'web' }, name: 'idem-1' }, headers: { 'idempotency-key': key } });
    assert.equal(again.status, 202, again.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.headers.get('location'), first.headers.get('location'));
    assert.deepEqual(again.json, first.json, 'the same command id and workflow id');
    await commandEnd(api, first.json.href);
    const other = await api.request('POST', '/v1/containers', { body: { ...body, name: 'idem-2' }, headers: { 'idempotency-key': key } });
    assertProblem(other, 422, 'IDEMPOTENCY_KEY_REUSED', '/v1/containers');
    assert.equal(other.json.details.key, key);
    assert.match(other.json.detail, new RegExp(`Idempotency-Key ${key} was first sent with another request \\(POST /v1/containers\\)`));
    const elsewhere = await api.request('POST', '/v1/containers/idem-1/stop', { headers: { 'idempotency-key': key } });
    assertProblem(elsewhere, 422, 'IDEMPOTENCY_KEY_REUSED', '/v1/containers/idem-1/stop');
    // Keys belong to a token: another token's same key is its own.
    const stop = await api.request('POST', '/v1/containers/idem-1/stop', { token: api.tokens.operator, headers: { 'idempotency-key': key } });
    await done(stop);
    const listed = await eventually(async () => ((l) => (l.length === 2 ? l : undefined))(await stack.client.commands.list({ container: 'idem-1' })));
    assert.deepEqual(listed.map((c) => c.command).sort(), ['create', 'stop'], 'the resubmitted create started nothing');
    // A refused request does not keep its key: once the refusal is fixed, the key is free.
    const refusedKey = randomUUID();
    assert.equal((await api.request('POST', '/v1/containers/idem-1/stop', { headers: { 'idempotency-key': refusedKey } })).status, 409);
    await done(await api.request('POST', '/v1/containers/idem-1/start', { headers: { 'idempotency-key': refusedKey } }));
    assertProblem(await api.request('POST', '/v1/containers/idem-1/stop', { headers: { 'idempotency-key': 'not a key' } }), 400, 'INVALID_INPUT', '/v1/containers/idem-1/stop');
  });

  test('event histories of a container and an environment; the environment state follows its members', async () => {
    await done(await api.request('POST', '/v1/environments', { body: { name: 'ev-env' } }));
    await done(await api.request('POST', '/v1/environments/ev-env/members', { body: { create: { name: 'ev-db', definition: { ...small, kind: 'db' } } } }));
    assert.equal((await api.request('GET', '/v1/environments/ev-env')).json.state, 'running');
    await done(await api.request('POST', '/v1/environments/ev-env/stop'));
    assert.equal((await api.request('GET', '/v1/environments/ev-env')).json.state, 'stopped');
    assert.equal((await api.request('GET', '/v1/environments')).json.items.find((e: { name: string }) => e.name === 'ev-env').state, 'stopped');
    await done(await api.request('POST', '/v1/environments/ev-env/start'));
    await done(await api.request('POST', '/v1/environments/ev-env/suspend'));
    assert.equal((await api.request('GET', '/v1/environments/ev-env')).json.state, 'suspended');

    await done(await api.request('POST', '/v1/environments/ev-env/members/ev-db/down', { body: { cause: 'its rack lost power' } }));
    assert.equal((await api.request('GET', '/v1/environments/ev-env')).json.state, 'degraded');
    const events = await api.request('GET', '/v1/containers/ev-db/events?limit=50');
    assert.equal(events.status, 200, events.text);
    const lost = events.json.items.find((e: { what: string }) => e.what === 'state suspended → lost');
    assert.ok(lost, events.text.slice(0, 500));
    assert.equal(lost.why, 'its rack lost power');
    assert.equal(lost.by, 'environment');
    assert.match(lost.at, /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(typeof lost.commandId, 'string');
    const hooks = await api.request('GET', '/v1/environments/ev-env/events');
    assert.ok(hooks.json.items.some((e: { what: string }) => e.what === 'hook afterItIsAdded'), hooks.text.slice(0, 500));
    assertProblem(await api.request('GET', '/v1/containers/nobody/events'), 404, 'NOT_FOUND', '/v1/containers/nobody/events');
  });

  test('a queued command moves in its queue; a retarget shows in the summary of the command', async () => {
    await done(await api.request('POST', '/v1/containers', { body: { name: 'queue-1', definition: small, hint: 'hv-1' } }));
    await stack.sim.admin.setDelays({ reboot: 3000 }, 'hv-1');
    try {
      const slow = await api.request('POST', '/v1/containers/queue-1/reboot');
      const second = await api.request('POST', '/v1/containers/queue-1/reboot');
      const move = await api.request('POST', '/v1/containers/queue-1/migrate', { body: { target: 'hv-2' } });
      const moved = await api.request('POST', `${move.json.href}/reorder`, { body: { position: 1 } });
      assert.equal(moved.status, 200, moved.text);
      assert.deepEqual(moved.json.queue, [slow.json.commandId, move.json.commandId, second.json.commandId]);
      assertProblem(await api.request('POST', `${slow.json.href}/reorder`, { body: { position: 2 } }), 400, 'INVALID_INPUT', `${slow.json.href}/reorder`);

      const retarget = await api.request('POST', `${move.json.href}/modify`, { body: { target: 'hv-3' } });
      assert.equal(retarget.status, 200, retarget.text);
      const shown = await api.request('GET', move.json.href);
      assert.equal(shown.json.summary, 'migrate queue-1 to hv-3');
      const ended = await commandEnd(api, move.json.href, 60_000);
      assert.equal(ended.result.host, 'hv-3');
      assert.equal(ended.summary, 'migrate queue-1 to hv-3');
      const listed = await eventually(async () => {
        const r = await api.request('GET', '/v1/commands?container=queue-1&command=migrate');
        return r.json.items.find((c: { workflowId: string; summary?: string }) => c.workflowId === move.json.workflowId && c.summary === 'migrate queue-1 to hv-3');
      }, 30_000, 'the listed summary naming hv-3');
      assert.ok(listed);
      await commandEnd(api, second.json.href, 60_000);
    } finally {
      await stack.sim.admin.setDelays({ reboot: null }, 'hv-1');
    }
  });

  test('commands are listed by status with one spelling: Cancelled', async () => {
    assert.equal((await api.request('GET', '/v1/commands?status=Cancelled')).status, 200);
    assertProblem(await api.request('GET', '/v1/commands?status=Canceled'), 400, 'INVALID_INPUT', '/v1/commands');
  });
});
