// `npm run test:production`: the production test tier. Builds the pinned Temporal server, SQL
// tool and Web UI server into .tools/ when missing, builds dist/, then runs test/production/ —
// each file starts PostgreSQL, a 4-shard Temporal server, the Web UI server and MariaDB, and runs
// vmflow from dist/ as separate processes.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { buildDist } from '../build';
import { ensureTools } from './tools';
import { ROOT } from './versions';

async function main(): Promise<void> {
  const started = Date.now();
  const seconds = () => `${Math.round((Date.now() - started) / 1000)} s`;
  ensureTools();
  console.error(`test:production: tools ready after ${seconds()}`);
  await buildDist();
  console.error(`test:production: dist/ built after ${seconds()}`);
  const dir = path.join(ROOT, 'test', 'production');
  const filters = process.argv.slice(2);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts') && (!filters.length || filters.some((x) => f.includes(x))))
    .map((f) => path.join('test', 'production', f));
  // One file at a time: each runs a whole cluster.
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit', '--test-timeout=1200000', '--test-reporter=spec', ...files], {
    cwd: ROOT,
    stdio: 'inherit',
    env: process.env,
  });
  console.error(`test:production: ${r.status === 0 ? 'passed' : 'FAILED'} after ${seconds()}`);
  process.exit(r.status ?? 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
