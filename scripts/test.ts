// `npm test`: fetches the Temporal binaries when missing, bundles the workflows once, then runs
// every test file under test/ with node's test runner. Extra arguments select files by substring.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { dashboardSource } from '../src/dashboard/bundle';
import { temporalCli, temporalTestServer } from '../src/temporal/binaries';
import { workflowBundle } from '../src/worker/bundle';

const ROOT = path.resolve(__dirname, '..');

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? testFiles(p) : p.endsWith('.test.ts') ? [p] : [];
    })
    .sort();
}

async function main(): Promise<void> {
  process.env.TEMPORAL_CLI ??= temporalCli();
  process.env.TEMPORAL_TEST_SERVER ??= temporalTestServer();
  await workflowBundle();
  const dashboard = await dashboardSource();
  if ('unavailable' in dashboard) console.error(`vmflow: the dashboard is not available: ${dashboard.unavailable}`);
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  // `--unit`: only the fast tier (no sim, no registry, Temporal's time-skipping test server).
  if (process.argv.includes('--unit')) filters.push('test/unit/');
  // test/production/ is its own tier (`npm run test:production`): it runs only when named.
  const files = testFiles(path.join(ROOT, 'test'))
    .filter((f) => !path.relative(ROOT, f).startsWith(`test${path.sep}production${path.sep}`) || filters.some((x) => x.includes('production')))
    .filter((f) => !filters.length || filters.some((x) => path.relative(ROOT, f).includes(x)));
  const concurrency = process.env.TEST_CONCURRENCY ?? '2';
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-force-exit', '--test-timeout=600000', '--test-reporter=spec', ...files.map((f) => path.relative(ROOT, f))],
    { cwd: ROOT, stdio: 'inherit', env: process.env },
  );
  process.exit(r.status ?? 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
