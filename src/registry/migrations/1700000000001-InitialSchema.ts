// The registry's first schema, written out per dialect: SQLite for the embedded default,
// MySQL/MariaDB (InnoDB, utf8mb4 with binary collation so keys compare byte for byte) for production.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const MYSQL_TABLE = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

const MYSQL_UP = [
  `CREATE TABLE \`nodes\` (
    \`id\` varchar(36) NOT NULL,
    \`type\` varchar(32) NOT NULL,
    \`name\` varchar(255) NOT NULL,
    \`definition\` mediumtext NOT NULL,
    \`state\` varchar(64) NOT NULL,
    \`metadata\` mediumtext NOT NULL,
    \`parent_id\` varchar(36) NULL,
    \`version\` int NOT NULL,
    \`created_at\` varchar(32) NOT NULL,
    \`updated_at\` varchar(32) NOT NULL,
    \`res_cpus\` double NULL,
    \`res_memory_mib\` double NULL,
    \`res_disk_gib\` double NULL,
    \`expires_at\` varchar(32) NULL,
    \`group_names\` mediumtext NULL,
    PRIMARY KEY (\`id\`),
    UNIQUE KEY \`uq_nodes_name\` (\`name\`),
    KEY \`ix_nodes_parent_type\` (\`parent_id\`, \`type\`),
    KEY \`ix_nodes_type_state\` (\`type\`, \`state\`),
    KEY \`ix_nodes_type_expires\` (\`type\`, \`expires_at\`),
    CONSTRAINT \`fk_nodes_parent\` FOREIGN KEY (\`parent_id\`) REFERENCES \`nodes\` (\`id\`)
  ) ${MYSQL_TABLE}`,
  `CREATE TABLE \`node_keys\` (
    \`key\` varchar(255) NOT NULL,
    \`node_id\` varchar(36) NOT NULL,
    PRIMARY KEY (\`key\`),
    KEY \`ix_node_keys_node\` (\`node_id\`),
    CONSTRAINT \`fk_node_keys_node\` FOREIGN KEY (\`node_id\`) REFERENCES \`nodes\` (\`id\`)
  ) ${MYSQL_TABLE}`,
  `CREATE TABLE \`node_tags\` (
    \`node_id\` varchar(36) NOT NULL,
    \`tag_key\` varchar(255) NOT NULL,
    \`tag_value\` varchar(255) NOT NULL,
    PRIMARY KEY (\`node_id\`, \`tag_key\`),
    KEY \`ix_node_tags_key_value\` (\`tag_key\`, \`tag_value\`),
    CONSTRAINT \`fk_node_tags_node\` FOREIGN KEY (\`node_id\`) REFERENCES \`nodes\` (\`id\`)
  ) ${MYSQL_TABLE}`,
  // No foreign key: the audit log outlives the nodes it describes.
  `CREATE TABLE \`node_events\` (
    \`id\` int NOT NULL AUTO_INCREMENT,
    \`node_id\` varchar(36) NOT NULL,
    \`at\` varchar(32) NOT NULL,
    \`what\` varchar(64) NOT NULL,
    \`why\` text NOT NULL,
    \`actor\` varchar(255) NOT NULL,
    \`command_id\` varchar(128) NULL,
    \`data\` mediumtext NOT NULL,
    PRIMARY KEY (\`id\`),
    KEY \`ix_node_events_node\` (\`node_id\`, \`id\`)
  ) ${MYSQL_TABLE}`,
];

const SQLITE_UP = [
  `CREATE TABLE "nodes" (
    "id" varchar(36) PRIMARY KEY NOT NULL,
    "type" varchar(32) NOT NULL,
    "name" varchar(255) NOT NULL,
    "definition" text NOT NULL,
    "state" varchar(64) NOT NULL,
    "metadata" text NOT NULL,
    "parent_id" varchar(36) NULL REFERENCES "nodes" ("id"),
    "version" integer NOT NULL,
    "created_at" varchar(32) NOT NULL,
    "updated_at" varchar(32) NOT NULL,
    "res_cpus" double NULL,
    "res_memory_mib" double NULL,
    "res_disk_gib" double NULL,
    "expires_at" varchar(32) NULL,
    "group_names" text NULL,
    CONSTRAINT "uq_nodes_name" UNIQUE ("name")
  )`,
  `CREATE INDEX "ix_nodes_parent_type" ON "nodes" ("parent_id", "type")`,
  `CREATE INDEX "ix_nodes_type_state" ON "nodes" ("type", "state")`,
  `CREATE INDEX "ix_nodes_type_expires" ON "nodes" ("type", "expires_at")`,
  `CREATE TABLE "node_keys" (
    "key" varchar(255) PRIMARY KEY NOT NULL,
    "node_id" varchar(36) NOT NULL REFERENCES "nodes" ("id")
  )`,
  `CREATE INDEX "ix_node_keys_node" ON "node_keys" ("node_id")`,
  `CREATE TABLE "node_tags" (
    "node_id" varchar(36) NOT NULL REFERENCES "nodes" ("id"),
    "tag_key" varchar(255) NOT NULL,
    "tag_value" varchar(255) NOT NULL,
    PRIMARY KEY ("node_id", "tag_key")
  )`,
  `CREATE INDEX "ix_node_tags_key_value" ON "node_tags" ("tag_key", "tag_value")`,
  `CREATE TABLE "node_events" (
    "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
    "node_id" varchar(36) NOT NULL,
    "at" varchar(32) NOT NULL,
    "what" varchar(64) NOT NULL,
    "why" text NOT NULL,
    "actor" varchar(255) NOT NULL,
    "command_id" varchar(128) NULL,
    "data" text NOT NULL
  )`,
  `CREATE INDEX "ix_node_events_node" ON "node_events" ("node_id", "id")`,
];

export class InitialSchema1700000000001 implements MigrationInterface {
  readonly name = 'InitialSchema1700000000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = isMysql(queryRunner) ? MYSQL_UP : SQLITE_UP;
    for (const sql of statements) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['node_events', 'node_tags', 'node_keys', 'nodes']) {
      await queryRunner.query(isMysql(queryRunner) ? `DROP TABLE \`${table}\`` : `DROP TABLE "${table}"`);
    }
  }
}

function isMysql(queryRunner: QueryRunner): boolean {
  const type = queryRunner.connection.options.type;
  return type === 'mysql' || type === 'mariadb';
}
