// The API token table, per dialect. Only a token's hash is stored, never its secret.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ApiTokens1700000100001 implements MigrationInterface {
  readonly name = 'ApiTokens1700000100001';

  async up(runner: QueryRunner): Promise<void> {
    if (runner.connection.options.type === 'mysql') {
      await runner.query(`CREATE TABLE \`vmflow_api_tokens\` (
        \`id\` varchar(32) NOT NULL,
        \`name\` varchar(64) NOT NULL,
        \`role\` varchar(16) NOT NULL,
        \`hash\` varchar(64) NOT NULL,
        \`created_at\` varchar(32) NOT NULL,
        \`created_by\` varchar(255) NOT NULL,
        \`revoked_at\` varchar(32) NULL,
        PRIMARY KEY (\`id\`),
        UNIQUE KEY \`uq_vmflow_api_tokens_hash\` (\`hash\`)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
      return;
    }
    await runner.query(`CREATE TABLE "vmflow_api_tokens" (
      "id" varchar(32) PRIMARY KEY NOT NULL,
      "name" varchar(64) NOT NULL,
      "role" varchar(16) NOT NULL,
      "hash" varchar(64) NOT NULL UNIQUE,
      "created_at" varchar(32) NOT NULL,
      "created_by" varchar(255) NOT NULL,
      "revoked_at" varchar(32) NULL
    )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(runner.connection.options.type === 'mysql' ? 'DROP TABLE `vmflow_api_tokens`' : 'DROP TABLE "vmflow_api_tokens"');
  }
}
