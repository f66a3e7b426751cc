// How container commands fail on real libvirt hosts: libvirt's refusals reach the caller as typed
// errors with libvirt's reason, the saga removes whatever it built (no domain, no disk, no claim,
// no registry node), and a daemon that dies mid-command is a typed, retried HostUnreachableError.
import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { CancelledError, DriverError, HostUnreachableError, InvalidInputError, fromFailure } from '../../src/domain/errors';
import { MAX_CPUS, MAX_MEMORY_MIB } from '../../src/domain/limits';
import { skipMessage } from '../support/libvirt';
import { eventually } from '../support/invariants';
import { domstate } from '../libvirt/checks';
import { assertHostsMatchRegistry, domains, startLibvirtStack, storageEntries, tiny, type LibvirtStack } from './harness';

let ls: LibvirtStack | undefined;

before(async () => {
  ls = await startLibvirtStack([
    // Registered as big as vmflow allows, far bigger than the machine, so the allocator lets through what libvirt then refuses.
    { name: 'lv-big', capacity: { cpus: MAX_CPUS, memoryMiB: MAX_MEMORY_MIB, diskGiB: 100 } },
    { name: 'lv-doomed' },
  ]);
  if (!ls) console.log(skipMessage());
});
after(async () => {
  await ls?.stop();
});

/** temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED */
const PENDING_ACTIVITY_STARTED = 2;

const containers = () => ls!.stack.client.containers;

function refusedBy(operation: string, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof DriverError, `expected a DriverError, got ${String(e)}`);
    assert.equal(e.code, 'DRIVER_ERROR');
    assert.equal(e.operation, operation);
    assert.equal(e.host, 'lv-big');
    assert.match(e.driverMessage, pattern);
    return true;
  };
}

/** Nothing of `name` anywhere: not on the host, not in its storage, not in the registry; lv-big holds no claim. */
async function assertNothingLeft(name: string): Promise<void> {
  const h = ls!.host('lv-big');
  assert.equal(await domstate(h.uri, name), undefined, `${name} is not defined`);
  assert.deepEqual(storageEntries(h).filter((f) => f.startsWith(name)), [], `no disk of ${name}`);
  assert.equal(await ls!.stack.services.registry.findByName(name), undefined, `${name} left the registry`);
  const usage = await ls!.stack.client.hypervisors.usage('lv-big');
  assert.deepEqual({ ...usage }, { cpus: 0, memoryMiB: 0, diskGiB: 0 }, 'no capacity held on lv-big');
  await assertHostsMatchRegistry(ls!);
}

describe('container commands that libvirt refuses', { concurrency: false }, () => {
  it('create with vcpus libvirt refuses at define fails with libvirt’s reason and leaves nothing', async (t) => {
    if (!ls) return t.skip(skipMessage());
    // The pc machine type takes at most 255 vcpus.
    const h = await containers().create('bad-cpus', { definition: { ...tiny, cpus: MAX_CPUS }, hint: 'lv-big' });
    await assert.rejects(h.result(), refusedBy('define', /Maximum CPUs greater than specified machine type limit/));
    await assertNothingLeft('bad-cpus');
  });

  it('create with memory libvirt cannot represent is refused before it reaches libvirt, and leaves nothing', async (t) => {
    if (!ls) return t.skip(skipMessage());
    await assert.rejects(
      containers().create('bad-mem', { definition: { ...tiny, memoryMiB: 2 ** 44 }, hint: 'lv-big' }),
      (e) => e instanceof InvalidInputError && e.problems[0]?.field === 'memoryMiB',
    );
    await assertNothingLeft('bad-mem');
  });

  it('create of a guest bigger than the host’s memory fails at start; the saga wipes its disk and undefines it', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const memoryMiB = Math.ceil((totalmem() * 8) / 1024 / 1024);
    const h = await containers().create('too-big', { definition: { ...tiny, memoryMiB }, hint: 'lv-big' });
    await assert.rejects(h.result(), refusedBy('start', /Cannot allocate memory/));
    const progress = await h.progress();
    assert.equal(progress.phase, 'failed');
    assert.ok(progress.stepsDone.some((s) => /^undone: build on lv-big/.test(s)), `the build was undone: ${progress.stepsDone.join(', ')}`);
    await assertNothingLeft('too-big');
  });

  it('start of a stopped guest bigger than the host’s memory fails; the container stays stopped, defined, with its disk', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const memoryMiB = Math.ceil((totalmem() * 8) / 1024 / 1024);
    const r = await (await containers().create('big-idle', { definition: { ...tiny, memoryMiB }, hint: 'lv-big', start: false })).result();
    assert.equal(r.state, 'stopped');
    const h = ls.host('lv-big');
    assert.equal(await domstate(h.uri, 'big-idle'), 'shut off');
    await assert.rejects((await containers().start('big-idle')).result(), refusedBy('start', /Cannot allocate memory/));
    assert.equal((await containers().get('big-idle')).state, 'stopped');
    assert.equal(await domstate(h.uri, 'big-idle'), 'shut off');
    assert.deepEqual(storageEntries(h), ['big-idle.qcow2']);
    await assertHostsMatchRegistry(ls);
    await (await containers().destroy('big-idle')).result();
    await assertNothingLeft('big-idle');
  });
});

describe('a libvirt daemon that stops mid-command', () => {
  it('fails the driver call with a typed, retried HostUnreachableError; cancelling ends the command with the registry unchanged', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const doomed = ls.host('lv-doomed');
    await (await containers().create('dm1', { definition: tiny, hint: 'lv-doomed' })).result();
    assert.equal(await domstate(doomed.uri, 'dm1'), 'running');
    // The guest ignores ACPI, so the shutdown waits its full minute unless the daemon goes away.
    const h = await containers().shutdown('dm1', 60_000);
    const workflow = ls.stack.client.temporal.workflow.getHandle(h.workflowId);
    const pending = async () => (await workflow.describe()).raw.pendingActivities?.[0];
    await eventually(async () => (await pending())?.state === PENDING_ACTIVITY_STARTED, 20_000, 'the shutdown to reach the host');
    await new Promise((r) => setTimeout(r, 1000)); // it is polling the guest's state now
    const began = Date.now();
    await doomed.stop();
    const failed = await eventually(async () => {
      const p = await pending();
      return p?.lastFailure && (p.attempt ?? 0) >= 2 ? p : undefined;
    }, 20_000, 'the driver call to fail and be retried');
    t.diagnostic(`noticed in ${Date.now() - began} ms; attempt ${failed.attempt}: ${failed.lastFailure?.message}`);
    const converter = ls.stack.client.temporal.options.loadedDataConverter;
    const error = fromFailure(converter.failureConverter.failureToError(failed.lastFailure!, converter.payloadConverter));
    assert.ok(error instanceof HostUnreachableError, `expected HostUnreachableError, got ${String(error)}`);
    assert.equal(error.host, 'lv-doomed');
    assert.equal(error.permanent, false, 'transient: Temporal retries it (20 attempts, about 2.5 minutes, before the command fails with it)');
    assert.equal((await h.progress()).phase, 'running', 'still trying, not failed half-done');

    await h.cancel();
    await assert.rejects(h.result(), CancelledError);
    const node = await containers().get('dm1');
    assert.equal(node.state, 'running', 'the registry keeps the last state it knew; the monitor marks it lost');
    assert.equal(node.parentId, (await ls.stack.client.hypervisors.get('lv-doomed')).id);
    assert.deepEqual(await ls.stack.services.registry.list({ type: 'placeholder' }), []);
    assert.deepEqual(await domains(ls.host('lv-big').uri), []);
  });
});
