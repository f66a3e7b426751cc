// Log lines: ISO times, and the Temporal SDK's workflow and activity lines get the command id
// that their workflow id names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandLogger, commandOfWorkflowId, createLogger, temporalLogger } from '../../src/log';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: createLogger({ level: 'debug', name: 'test', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } }) };
}

test('a command workflow id names its command; an entity or other workflow names none', () => {
  assert.deepEqual(commandOfWorkflowId('container/web1/migrate/abc-1'), { kind: 'container', target: 'web1', command: 'migrate', commandId: 'abc-1' });
  assert.deepEqual(commandOfWorkflowId('environment/shop/add/x'), { kind: 'environment', target: 'shop', command: 'add', commandId: 'x' });
  assert.equal(commandOfWorkflowId('container/web1'), undefined);
});

test('SDK lines about a command workflow carry commandId; levels map; times are ISO UTC', () => {
  const { lines, log } = capture();
  const sdk = temporalLogger(log);
  sdk.log('INFO', 'Activity completed', { workflowId: 'container/web1/create/c-42', activityType: 'build' });
  sdk.warn('Workflow task failed', { workflowId: 'container/web1' });
  sdk.debug('noise');
  assert.equal(lines.length, 3);
  assert.equal(lines[0]!.commandId, 'c-42');
  assert.equal(lines[0]!.workflowId, 'container/web1/create/c-42');
  assert.equal(lines[0]!.level, 'info');
  assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(lines[1]!.commandId, undefined);
  assert.equal(lines[1]!.level, 'warn');
  assert.equal(lines[2]!.level, 'debug');
});

test('a command logger adds its ids to every line', () => {
  const { lines, log } = capture();
  commandLogger(log, { commandId: 'c-1', workflowId: 'container/a/start/c-1', command: 'start', target: 'a' }).info('accepted');
  assert.deepEqual([lines[0]!.commandId, lines[0]!.workflowId, lines[0]!.command, lines[0]!.target, lines[0]!.name], ['c-1', 'container/a/start/c-1', 'start', 'a', 'test']);
});
