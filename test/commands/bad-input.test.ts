// Bad input gets a clear, typed error and changes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError, InvalidTransitionError, KeyConflictError, NotFoundError } from '../../src/domain/errors';
import { assertConsistent, snapshotCluster } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

describe('bad input', () => {
  let stack: Stack;
  let before0: unknown;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }] });
    await (await stack.client.containers.create('web1', { definition: web, hint: 'hv-1' })).result();
    await (await stack.client.containers.create('web2', { definition: web, hint: 'hv-1', start: false })).result();
    before0 = await snapshotCluster(stack);
  });
  after(async () => {
    assert.deepEqual(await snapshotCluster(stack), before0);
    await assertConsistent(stack);
    await stack?.stop();
  });

  test('a command on an unknown container is refused', async () => {
    await assert.rejects(stack.client.containers.start('nope'), (e) => e instanceof NotFoundError && /container nope not found/.test(e.message));
  });

  test('an impossible transition is refused at once by the entity, with the reason', async () => {
    await assert.rejects(stack.client.containers.start('web1'), (e) => e instanceof InvalidTransitionError && /cannot start web1: it is running/.test(e.message));
    await assert.rejects(stack.client.containers.resume('web2'), (e) => e instanceof InvalidTransitionError && /cannot resume web2: it is stopped/.test(e.message));
    await assert.rejects(stack.client.containers.update('web1', { definition: { cpus: 2 } }), (e) => e instanceof InvalidTransitionError && /stop it first/.test(e.message));
  });

  test('an unknown host hint is refused', async () => {
    await assert.rejects(stack.client.containers.migrate('web1', { target: 'hv-9' }), (e) => e instanceof NotFoundError && /hypervisor hv-9 not found/.test(e.message));
    await assert.rejects(stack.client.containers.clone('web2', { name: 'web3', hint: 'hv-9' }), NotFoundError);
  });

  test('a clone onto an existing name is refused naming the owner', async () => {
    await assert.rejects(stack.client.containers.clone('web2', { name: 'web1' }), (e) => e instanceof KeyConflictError && /name:web1 is already owned by web1/.test(e.message));
  });

  test('a migrate to the current host is refused', async () => {
    await assert.rejects(stack.client.containers.migrate('web1', { target: 'hv-1' }), (e) => e instanceof InvalidInputError && /web1 is already on hv-1/.test(e.message));
  });

  test('a malformed definition lists every bad field', async () => {
    const err = await stack.client.containers.create('bad1', { definition: { kind: 'web', cpus: -1, memoryMiB: 0, diskGiB: 10, network: { ip: '10.0.0.300', mac: 'zz' } } }).catch((e) => e);
    assert.ok(err instanceof InvalidInputError, String(err));
    const fields = err.problems.map((p: { field: string }) => p.field).sort();
    assert.deepEqual(fields, ['cpus', 'memoryMiB', 'network.ip', 'network.mac']);
    await assert.rejects(stack.client.containers.create('Bad Name', { definition: web }), (e) => e instanceof InvalidInputError && /name must be/.test(e.message));
  });

  test('a create with a taken ip is refused naming its owner, and leaves nothing behind', async () => {
    const ip = (await stack.client.containers.get('web1')).definition.network.ip;
    const h = await stack.client.containers.create('web9', { definition: { ...web, network: { ip } } });
    await assert.rejects(h.result(), (e) => e instanceof KeyConflictError && e.message.includes(`ip:${ip}`) && /web1/.test(e.message));
    assert.equal(await stack.services.registry.findByName('web9'), undefined);
  });
});
