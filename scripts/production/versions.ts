// The production topology as tested: pinned versions, the Temporal server's settings and its
// schema steps. The production test tier runs exactly this; docker-compose.yml must say the same,
// and test/compose checks that it does. Change a version here and in docker-compose.yml together.
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/** go.temporal.io/server: the newest release this machine's Go (1.26) builds. */
export const TEMPORAL_SERVER_VERSION = '1.32.1';
/** github.com/temporalio/ui-server/v2 (the temporalio/ui image carries the same number). */
export const TEMPORAL_UI_VERSION = '2.54.1';
/** Temporal's persistence and visibility store. */
export const POSTGRES_MAJOR = '15';
/** The registry in compose; the tier runs MariaDB, the MySQL-compatible server Debian ships. */
export const MYSQL_VERSION = '8.0';

/** Temporal's SQL plugin for PostgreSQL 12 and later, and its two databases with their embedded schemas. */
export const SQL_PLUGIN = 'postgres12';
export const DATABASES = [
  { name: 'temporal', schema: 'postgresql/v12/temporal' },
  { name: 'temporal_visibility', schema: 'postgresql/v12/visibility' },
] as const;

/**
 * temporal-sql-tool's steps, run in order for each database; the connection comes from SQL_PLUGIN,
 * SQL_HOST, SQL_PORT, SQL_USER and SQL_PASSWORD in the environment. Each may run again on a set-up
 * database: create-database is allowed to fail there, the others change nothing.
 */
export function schemaSteps(): Array<{ readonly args: readonly string[]; readonly mayFail: boolean }> {
  return DATABASES.flatMap((db) => [
    { args: ['--database', db.name, 'create-database'], mayFail: true },
    { args: ['--database', db.name, 'setup-schema', '--version', '0.0'], mayFail: false },
    { args: ['--database', db.name, 'update-schema', '--schema-name', db.schema], mayFail: false },
  ]);
}

/** The one dynamic config file, used by the tier and mounted by compose. */
export const DYNAMIC_CONFIG_FILE = 'deploy/temporal/dynamicconfig.yaml';

/**
 * The environment of `temporal-server start` that does not depend on where it runs: the server
 * renders its embedded config template from it, in the tier as in the temporalio/server image.
 */
export const TEMPORAL_SERVER_SETTINGS = {
  DB: SQL_PLUGIN,
  DBNAME: DATABASES[0].name,
  VISIBILITY_DBNAME: DATABASES[1].name,
  NUM_HISTORY_SHARDS: '4',
} as const;

/** vmflow's namespace and how long it keeps closed workflows, as `vmflow temporal setup` makes it. */
export const NAMESPACE = 'vmflow';
export const RETENTION = '7d';

/**
 * Cluster membership ports are kept below 32768: Temporal's PostgreSQL schema stores them in a
 * SMALLINT, and a higher one stops the server at start.
 */
export const MAX_MEMBERSHIP_PORT = 32767;

/** Where a pinned tool is built: .tools/<name>/<version>/. */
export function toolDir(name: string, version: string): string {
  return path.join(ROOT, '.tools', name, version);
}
