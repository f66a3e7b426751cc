// The command runtime's saga on Temporal's time-skipping test server with fake activities: the
// order of steps and undos, undo retries over hours of (skipped) time, and what a command leaves
// when an undo gives up. Seconds, not minutes: no sim, no registry, no real hosts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import type { CommandRequest, ContainerCommand } from '../../src/domain/commands';
import { SEARCH_ATTRIBUTE_TYPES, TASK_QUEUE } from '../../src/domain/names';
import { temporal } from '@temporalio/proto';
import type { HostRef } from '../../src/drivers/driver';
import { temporalTestServer } from '../../src/temporal/binaries';
import { workflowBundle } from '../../src/worker/bundle';
import { UNDO_LIMIT_SECONDS } from '../../workflows/command-runtime';

const hv = (name: string): HostRef => ({ id: `id-${name}`, name, definition: { driver: 'sim', address: name, capacity: { cpus: 8, memoryMiB: 8192, diskGiB: 100 } } });
const definition = { kind: 'generic', cpus: 1, memoryMiB: 512, diskGiB: 5, network: { ip: '10.0.0.9', mac: '02:00:0a:00:00:09' } };
const container = (state: string, parentId: string | null) => ({ id: 'c-1', name: 'c1', type: 'container', state, parentId, definition, metadata: {}, tags: {}, keys: [], version: 1, createdAt: '', updatedAt: '' });

type Behaviour = Record<string, (...args: any[]) => Promise<unknown>>;

/** Fake activities that record each call by name and run `overrides` where given. */
function fakes(calls: string[], overrides: Behaviour = {}): Behaviour {
  const ok = (result?: unknown) => async () => result;
  const base: Behaviour = {
    provisionContainer: ok({ container: container('new', null), spec: { id: 'c-1', name: 'c1', definition } }),
    claimPlacement: ok({ host: hv('hv-2'), placeholderId: 'p-1', attempts: 1, skipped: [] }),
    releaseClaim: ok(true),
    unprovisionContainer: ok(),
    commitPlacement: ok(),
    loadContainer: ok({ container: container('running', 'id-hv-1'), spec: { id: 'c-1', name: 'c1', definition }, host: hv('hv-1') }),
    loadHost: ok(hv('hv-2')),
    expectState: ok('running'),
    markUnknown: ok(),
    setContainerState: ok(),
    containerBuild: ok(),
    containerRemove: ok(),
    containerMigrate: ok(),
    containerPower: ok(),
  };
  const all = { ...base, ...overrides };
  return Object.fromEntries(
    Object.entries(all).map(([name, fn]) => [
      name,
      async (...args: any[]) => {
        calls.push(name);
        return fn(...args);
      },
    ]),
  );
}

/** The innermost application failure: what the activity said. */
function innermost(err: any): { type?: string; message?: string } {
  let found: any;
  for (let e = err; e; e = e.cause) if (e instanceof ApplicationFailure) found = e;
  return found ?? {};
}

const permanent = (message: string) => async () => {
  throw ApplicationFailure.create({ type: 'DriverError', message, nonRetryable: true });
};

describe('the command saga (time-skipping, fake activities)', () => {
  let env: TestWorkflowEnvironment;
  let codePath: string;
  before(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: temporalTestServer() } } });
    // Commands tag themselves with vmflow's search attributes; the test server must know them.
    const { INDEXED_VALUE_TYPE_KEYWORD, INDEXED_VALUE_TYPE_KEYWORD_LIST } = temporal.api.enums.v1.IndexedValueType;
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(Object.entries(SEARCH_ATTRIBUTE_TYPES).map(([name, type]) => [name, type === 'Keyword' ? INDEXED_VALUE_TYPE_KEYWORD : INDEXED_VALUE_TYPE_KEYWORD_LIST])),
    });
    codePath = (await workflowBundle()).codePath;
  });
  after(async () => env?.teardown());

  /** Runs one command workflow against the fakes; returns its outcome and the calls in order. */
  async function run<C extends ContainerCommand>(workflow: string, command: C, args: object, overrides: Behaviour = {}) {
    const calls: string[] = [];
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUE, workflowBundle: { codePath }, activities: fakes(calls, overrides) });
    const request: CommandRequest = { commandId: randomUUID(), command, container: 'c1', args: args as never };
    const started = await env.currentTimeMs();
    const outcome = await worker.runUntil(
      env.client.workflow.execute(workflow, { taskQueue: TASK_QUEUE, workflowId: `unit-${randomUUID()}`, args: [{ request, queued: false }] }).then(
        (result) => ({ result, error: undefined as any }),
        (error) => ({ result: undefined, error }),
      ),
    );
    return { ...outcome, calls, elapsedMs: (await env.currentTimeMs()) - started };
  }

  test('a create whose build fails undoes in reverse: remove the VM, release the claim, forget the container', async () => {
    const r = await run('createContainer', 'create', { definition }, { containerBuild: permanent('disk full') });
    assert.match(String(innermost(r.error).message), /disk full/);
    assert.deepEqual(r.calls, ['provisionContainer', 'claimPlacement', 'containerBuild', 'containerRemove', 'releaseClaim', 'unprovisionContainer']);
  });

  test('an undo that fails now and then is retried with backoff until it succeeds: nothing is flagged', async () => {
    let failures = 0;
    const r = await run('migrateContainer', 'migrate', { target: 'hv-2' }, {
      containerMigrate: async (input: { source: HostRef }) => {
        if (input.source.name === 'hv-1') throw ApplicationFailure.create({ type: 'DriverError', message: 'copy failed', nonRetryable: true });
        if (++failures <= 3) throw ApplicationFailure.create({ type: 'DriverError', message: 'status read failed', nonRetryable: true });
      },
    });
    assert.match(String(innermost(r.error).message), /copy failed/);
    assert.equal(r.calls.filter((c) => c === 'containerMigrate').length, 1 + 4, 'the forward step once, its undo until it worked');
    assert.ok(!r.calls.includes('markUnknown'));
    assert.ok(r.calls.includes('releaseClaim'));
  });

  test('an undo that keeps failing is retried for hours, then the container is left unknown and the command says so', async () => {
    const r = await run('migrateContainer', 'migrate', { target: 'hv-2' }, {
      containerMigrate: async (input: { source: HostRef }) => {
        throw ApplicationFailure.create({ type: 'DriverError', message: input.source.name === 'hv-1' ? 'copy failed' : 'host refuses', nonRetryable: true });
      },
    });
    assert.equal(r.error?.cause?.type, 'UndoIncompleteError');
    assert.match(r.error.cause.message, /migrate c1 failed \(.*copy failed\) and its undo ".*" could not finish \(.*host refuses\); c1 is unknown/);
    assert.ok(r.elapsedMs >= (UNDO_LIMIT_SECONDS - 120) * 1000, `retried for ${r.elapsedMs / 3600_000} h`);
    assert.ok(r.calls.filter((c) => c === 'containerMigrate').length > 10);
    assert.deepEqual(r.calls.slice(-2), ['releaseClaim', 'markUnknown'], 'the claim goes; the container stays, flagged');
  });

  test('a create whose VM removal gives up keeps the container registered (unknown) instead of forgetting it', async () => {
    const r = await run('createContainer', 'create', { definition }, { containerBuild: permanent('start failed'), containerRemove: permanent('host refuses') });
    assert.equal(r.error?.cause?.type, 'UndoIncompleteError');
    assert.ok(!r.calls.includes('unprovisionContainer'), 'the registry does not forget a VM that may exist');
    assert.deepEqual(r.calls.slice(-2), ['releaseClaim', 'markUnknown']);
  });

  test('an undo that finds the VM gone gives up at once: it is a question for the monitor, not for retries', async () => {
    const r = await run('stopContainer', 'stop', {}, {
      containerPower: async () => {
        throw ApplicationFailure.create({ type: 'VmMissingError', message: 'c1 is not on hv-1', nonRetryable: true });
      },
    });
    // A power command has no undo: it fails, typed, and changes nothing.
    assert.equal(innermost(r.error).type, 'VmMissingError');
    assert.ok(!r.calls.includes('markUnknown'));
    assert.equal(r.calls.filter((c) => c === 'containerPower').length, 1, 'not retried');
  });
});
