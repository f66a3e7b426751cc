// The messages a user may send with the plain `temporal` CLI, as the README's "Temporal
// messages" section shows them: query progress and status, retarget a queued migration, reorder
// a queue, cancel a command; and the descriptions the workflows give their handlers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { MESSAGE_DESCRIPTIONS } from '../../src/domain/messages';
import { temporalCli } from '../../src/temporal/binaries';
import { eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const run = promisify(execFile);
const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

describe('Temporal messages through the temporal CLI', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }] });
  });
  after(async () => {
    await stack?.sim.admin.setDelays({ reboot: null }).catch(() => undefined);
    await stack?.stop();
  });

  /** Runs `temporal <args> --address <stack> -o json` and parses what it prints. */
  async function temporal(...args: string[]): Promise<any> {
    const { stdout } = await run(temporalCli(), [...args, '--address', stack.temporal.address, '-o', 'json']);
    return JSON.parse(stdout);
  }

  test('progress, status, retarget, reorder and cancel, and the handlers’ descriptions', async () => {
    await (await stack.client.containers.create('m1', { definition: web, hint: 'hv-1' })).result();
    await stack.sim.admin.setDelays({ reboot: 3000 });
    const reboot = await stack.client.containers.reboot('m1');
    const migrate = await stack.client.containers.migrate('m1', { target: 'hv-2' });
    const stop = await stack.client.containers.stop('m1');
    await eventually(async () => /reboot on/.test((await reboot.progress()).step), 20_000, 'the reboot to reach its host');

    // temporal workflow query --workflow-id container/m1/migrate/<id> --name progress
    const progress = await temporal('workflow', 'query', '--workflow-id', migrate.workflowId, '--name', 'progress');
    assert.equal(progress.queryResult[0].phase, 'queued');
    assert.equal(progress.queryResult[0].target, 'hv-2');
    // temporal workflow query --workflow-id container/m1 --name status
    const status = await temporal('workflow', 'query', '--workflow-id', 'container/m1', '--name', 'status');
    assert.deepEqual(status.queryResult[0].queue.map((q: { command: string }) => q.command), ['reboot', 'migrate', 'stop']);

    // temporal workflow update execute --workflow-id container/m1/migrate/<id> --name retarget --input '{"target":"hv-3"}'
    const retargeted = await temporal('workflow', 'update', 'execute', '--workflow-id', migrate.workflowId, '--name', 'retarget', '--input', '{"target":"hv-3"}');
    assert.deepEqual(retargeted.result, { target: 'hv-3' });
    // temporal workflow update execute --workflow-id container/m1 --name reorder --input '{"commandId":"<id>","position":1}'
    const order = await temporal('workflow', 'update', 'execute', '--workflow-id', 'container/m1', '--name', 'reorder', '--input', JSON.stringify({ commandId: stop.commandId, position: 1 }));
    assert.deepEqual(order.result, [reboot.commandId, stop.commandId, migrate.commandId]);
    // A refused update says why.
    await assert.rejects(
      run(temporalCli(), ['workflow', 'update', 'execute', '--workflow-id', 'container/m1', '--name', 'reorder', '--input', JSON.stringify({ commandId: reboot.commandId, position: 2 }), '--address', stack.temporal.address]),
      /is already running/,
    );

    // temporal workflow metadata --workflow-id container/m1 (and a command's)
    const entity = await temporal('workflow', 'metadata', '--workflow-id', 'container/m1');
    const described = (defs: Array<{ name: string; description?: string }> = []) => Object.fromEntries(defs.map((d) => [d.name, d.description]));
    const entityDefs = entity.queryResult[0].definition;
    assert.equal(described(entityDefs.updateDefinitions).submit, MESSAGE_DESCRIPTIONS.submit);
    assert.equal(described(entityDefs.updateDefinitions).reorder, MESSAGE_DESCRIPTIONS.reorder);
    assert.equal(described(entityDefs.queryDefinitions).status, MESSAGE_DESCRIPTIONS.status);
    const command = await temporal('workflow', 'metadata', '--workflow-id', migrate.workflowId);
    const commandDefs = command.queryResult[0].definition;
    assert.equal(described(commandDefs.updateDefinitions).retarget, MESSAGE_DESCRIPTIONS.retarget);
    assert.equal(described(commandDefs.queryDefinitions).progress, MESSAGE_DESCRIPTIONS.progress);

    // temporal workflow cancel --workflow-id container/m1/migrate/<id>
    await run(temporalCli(), ['workflow', 'cancel', '--workflow-id', migrate.workflowId, '--address', stack.temporal.address]);
    await assert.rejects(migrate.result());
    assert.equal((await reboot.result()).state, 'running');
    assert.equal((await stop.result()).state, 'stopped');
    const after = await temporal('workflow', 'query', '--workflow-id', 'container/m1', '--name', 'status');
    assert.deepEqual(
      after.queryResult[0].recent.slice(-3).map((r: { command: string; outcome: string }) => `${r.command} ${r.outcome}`),
      ['reboot completed', 'stop completed', 'migrate cancelled'],
    );
  });
});
