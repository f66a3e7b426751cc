// Host samples: what each host's containers used, what placeholders held and what it allowed, as
// the monitor saw it, one row per host and sample time. No foreign key: like the audit log, the
// samples of a removed host age out rather than block its removal.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const MYSQL_UP = [
  `CREATE TABLE \`host_samples\` (
    \`id\` bigint NOT NULL AUTO_INCREMENT,
    \`host_id\` varchar(36) NOT NULL,
    \`at_ms\` bigint NOT NULL,
    \`state\` varchar(64) NOT NULL,
    \`allow_cpus\` double NOT NULL,
    \`allow_memory_mib\` double NOT NULL,
    \`allow_disk_gib\` double NOT NULL,
    \`used_cpus\` double NOT NULL,
    \`used_memory_mib\` double NOT NULL,
    \`used_disk_gib\` double NOT NULL,
    \`held_cpus\` double NOT NULL,
    \`held_memory_mib\` double NOT NULL,
    \`held_disk_gib\` double NOT NULL,
    PRIMARY KEY (\`id\`),
    KEY \`ix_host_samples_host_at\` (\`host_id\`, \`at_ms\`),
    KEY \`ix_host_samples_at\` (\`at_ms\`)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
];

const SQLITE_UP = [
  `CREATE TABLE "host_samples" (
    "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
    "host_id" varchar(36) NOT NULL,
    "at_ms" bigint NOT NULL,
    "state" varchar(64) NOT NULL,
    "allow_cpus" double NOT NULL,
    "allow_memory_mib" double NOT NULL,
    "allow_disk_gib" double NOT NULL,
    "used_cpus" double NOT NULL,
    "used_memory_mib" double NOT NULL,
    "used_disk_gib" double NOT NULL,
    "held_cpus" double NOT NULL,
    "held_memory_mib" double NOT NULL,
    "held_disk_gib" double NOT NULL
  )`,
  `CREATE INDEX "ix_host_samples_host_at" ON "host_samples" ("host_id", "at_ms")`,
  `CREATE INDEX "ix_host_samples_at" ON "host_samples" ("at_ms")`,
];

export class HostSamples1700000000010 implements MigrationInterface {
  readonly name = 'HostSamples1700000000010';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const sql of isMysql(queryRunner) ? MYSQL_UP : SQLITE_UP) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(isMysql(queryRunner) ? 'DROP TABLE `host_samples`' : 'DROP TABLE "host_samples"');
  }
}

function isMysql(queryRunner: QueryRunner): boolean {
  const type = queryRunner.connection.options.type;
  return type === 'mysql' || type === 'mariadb';
}
