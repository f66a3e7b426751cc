// Seeded chaos: random commands, several in flight, on sim hosts that fail any operation now and
// then, while the worker process is SIGKILLed and restarted every few seconds. Once the faults
// stop and every command has ended, the registry, the sim and Temporal must agree.
// Replay a run with CHAOS_SEED=<seed> (printed first).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHAOS_DEFAULTS, chaosSeed, formatReport, runChaos } from '../support/chaos';

test('random commands under injected faults and worker kills leave every invariant holding', async () => {
  const seed = chaosSeed();
  console.log(`chaos seed ${seed} (replay with CHAOS_SEED=${seed})`);
  const report = await runChaos({ ...CHAOS_DEFAULTS, seed, log: (line) => console.log(`  ${line}`) });
  console.log(formatReport([report]));
  const ended = report.outcomes.completed + report.outcomes.failed + report.outcomes.cancelled;
  assert.ok(report.records.length >= 100, `only ${report.records.length} commands ran`);
  assert.ok(report.kills >= 3, `the worker was killed only ${report.kills} times`);
  assert.ok(ended > 0, 'no command was accepted');
  assert.equal(report.outcomes.unended, 0, `seed ${seed}: commands that never ended: ${report.records.filter((r) => r.outcome === 'unended').map((r) => r.workflowId).join(', ')}`);
  assert.deepEqual(
    report.violations.map((v) => `${v.invariant}: ${v.subject}: ${v.detail}`),
    [],
    `seed ${seed}: invariants violated`,
  );
});
