// Replays stored histories of real commands against the current workflow code: a change that
// would break running workflows (non-determinism) fails here. Re-record deliberately with
// scripts/record-histories.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../src/worker/bundle';

const DIR = path.join(__dirname, '..', 'histories');

test('stored command histories replay against the current workflow code', async () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 6, `expected recorded histories in ${DIR}`);
  const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: JSON.parse(readFileSync(path.join(DIR, f), 'utf8')) as unknown }));
  const results = Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: 'stored histories' }, histories);
  const failures: string[] = [];
  let replayed = 0;
  for await (const r of results) {
    replayed++;
    if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
  }
  assert.equal(replayed, files.length);
  assert.deepEqual(failures, []);
});
