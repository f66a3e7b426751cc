// `npm run soak`: the chaos run at length, on SQLite and on MariaDB (a throwaway `mariadbd`, or
// MYSQL_URL). Prints commands by outcome, worker kills and invariant violations per database,
// and exits non-zero when any invariant is violated.
//
//   npm run soak -- --commands 500 --kill-every 8 --seed 42 --db both
import { Command, InvalidArgumentError } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { temporalCli } from '../src/temporal/binaries';
import { workflowBundle } from '../src/worker/bundle';
import { CHAOS_DEFAULTS, chaosSeed, formatReport, runChaos, type ChaosReport } from '../test/support/chaos';
import { startMariaDb } from '../test/support/mariadb';

function positive(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

async function main(): Promise<void> {
  const program = new Command('soak')
    .option('--commands <n>', 'commands per database', positive, 500)
    .option('--kill-every <s>', 'mean seconds between worker kills', positive, 8)
    .option('--seed <n>', 'seed (default: CHAOS_SEED or random)')
    .option('--db <which>', 'sqlite, mysql or both', 'both')
    .parse();
  const opts = program.opts<{ commands: number; killEvery: number; seed?: string; db: string }>();
  if (!['sqlite', 'mysql', 'both'].includes(opts.db)) throw new InvalidArgumentError(`--db must be sqlite, mysql or both, not ${opts.db}`);
  const seed = chaosSeed(opts.seed ?? process.env.CHAOS_SEED);
  process.env.TEMPORAL_CLI ??= temporalCli();
  await workflowBundle();
  console.log(`soak seed ${seed} (replay with --seed ${seed})`);

  const base = {
    ...CHAOS_DEFAULTS,
    seed,
    commands: Math.floor(opts.commands),
    killEverySeconds: opts.killEvery,
    names: Math.max(CHAOS_DEFAULTS.names, Math.ceil(opts.commands / 12)),
    quiesceTimeoutMs: 300_000,
  };
  const reports: ChaosReport[] = [];
  if (opts.db === 'sqlite' || opts.db === 'both') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-soak-'));
    try {
      console.log('— sqlite');
      reports.push(await runChaos({ ...base, registryUrl: `sqlite:${path.join(dir, 'registry.sqlite')}`, log: (l) => console.log(`  ${l}`) }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (opts.db === 'mysql' || opts.db === 'both') {
    const server = await startMariaDb();
    if (!server) throw new Error('no MariaDB here: install mariadb-server (mariadbd, mariadb-install-db) or set MYSQL_URL');
    try {
      console.log('— mysql');
      reports.push(await runChaos({ ...base, registryUrl: server.url, log: (l) => console.log(`  ${l}`) }));
    } finally {
      await server.stop();
    }
  }
  console.log(formatReport(reports));
  const violations = reports.reduce((a, r) => a + r.violations.length + r.outcomes.unended, 0);
  if (violations) {
    console.error(`${violations} invariant violations (seed ${seed})`);
    process.exit(1);
  }
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
