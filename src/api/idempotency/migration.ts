// The table of Idempotency-Key answers, per dialect.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class IdempotencyKeys1700000200001 implements MigrationInterface {
  readonly name = 'IdempotencyKeys1700000200001';

  async up(runner: QueryRunner): Promise<void> {
    if (runner.connection.options.type === 'mysql') {
      await runner.query(`CREATE TABLE \`vmflow_api_idempotency_keys\` (
        \`scope\` varchar(64) NOT NULL,
        \`idempotency_key\` varchar(255) NOT NULL,
        \`fingerprint\` varchar(64) NOT NULL,
        \`request\` varchar(600) NOT NULL,
        \`status\` int NULL,
        \`answer\` text NULL,
        \`created_at\` varchar(32) NOT NULL,
        PRIMARY KEY (\`scope\`, \`idempotency_key\`),
        KEY \`ix_vmflow_api_idempotency_keys_created\` (\`created_at\`)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
      return;
    }
    await runner.query(`CREATE TABLE "vmflow_api_idempotency_keys" (
      "scope" varchar(64) NOT NULL,
      "idempotency_key" varchar(255) NOT NULL,
      "fingerprint" varchar(64) NOT NULL,
      "request" varchar(600) NOT NULL,
      "status" integer NULL,
      "answer" text NULL,
      "created_at" varchar(32) NOT NULL,
      PRIMARY KEY ("scope", "idempotency_key")
    )`);
    await runner.query(`CREATE INDEX "ix_vmflow_api_idempotency_keys_created" ON "vmflow_api_idempotency_keys" ("created_at")`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(runner.connection.options.type === 'mysql' ? 'DROP TABLE `vmflow_api_idempotency_keys`' : 'DROP TABLE "vmflow_api_idempotency_keys"');
  }
}
