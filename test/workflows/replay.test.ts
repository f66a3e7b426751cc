// Replays the stored histories of every released version against the current workflow code: a
// change that would break running workflows (non-determinism) fails here. Each version's
// histories live in test/histories/v<version>/, recorded by scripts/record-histories.ts and never
// edited afterwards (see "Upgrading" in the README).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../src/worker/bundle';

const DIR = path.join(__dirname, '..', 'histories');

/** The workflow types the worker registers, read from workflows/index.ts. */
function registeredTypes(): string[] {
  const index = readFileSync(path.join(__dirname, '..', '..', 'workflows', 'index.ts'), 'utf8');
  const types = new Set<string>();
  for (const m of index.matchAll(/export \{([^}]+)\} from '\.\/([\w-]+)'/g)) for (const name of m[1]!.split(',')) types.add(name.trim());
  for (const m of index.matchAll(/export \* from '\.\/([\w-]+)'/g)) {
    const source = readFileSync(path.join(__dirname, '..', '..', 'workflows', `${m[1]}.ts`), 'utf8');
    for (const f of source.matchAll(/^export async function (\w+)/gm)) types.add(f[1]!);
  }
  return [...types].sort();
}

interface Stored {
  readonly workflowId: string;
  readonly type: string;
  readonly history: { events: Array<{ workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }> };
}

function stored(version: string): Stored[] {
  const dir = path.join(DIR, version);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => {
      const history = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Stored['history'];
      return { workflowId: `${version}/${f.replace(/\.json$/, '')}`, type: history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '?', history };
    });
}

const versions = readdirSync(DIR)
  .filter((d) => /^v\d+\.\d+\.\d+/.test(d) && statSync(path.join(DIR, d)).isDirectory())
  .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));

describe('stored histories', () => {
  test('every released version has histories of every workflow type it registered', () => {
    assert.ok(versions.length >= 1, `expected version folders in ${DIR}`);
    // The newest version's histories cover every workflow type the worker registers today, so a
    // type added later is recorded at its first release.
    const newest = new Set(stored(versions[versions.length - 1]!).map((s) => s.type));
    const missing = registeredTypes().filter((t) => !newest.has(t));
    assert.deepEqual(missing, [], `no stored history of ${missing.join(', ')} in ${versions[versions.length - 1]}: run scripts/record-histories.ts`);
  });

  for (const version of versions) {
    test(`the histories of ${version} replay against the current workflow code`, async () => {
      const histories = stored(version);
      const results = Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: `histories ${version}` }, histories);
      const failures: string[] = [];
      let replayed = 0;
      for await (const r of results) {
        replayed++;
        if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
      }
      assert.equal(replayed, histories.length);
      assert.deepEqual(failures, []);
    });
  }
});
