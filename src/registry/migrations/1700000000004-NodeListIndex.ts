// Lists page by name within a type (`type = ? AND name > ? ORDER BY name LIMIT ?`): this index
// answers a page by reading only its rows, however deep the page.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class NodeListIndex1700000000004 implements MigrationInterface {
  readonly name = 'NodeListIndex1700000000004';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(isMysql(queryRunner) ? 'CREATE INDEX `ix_nodes_type_name` ON `nodes` (`type`, `name`)' : 'CREATE INDEX "ix_nodes_type_name" ON "nodes" ("type", "name")');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(isMysql(queryRunner) ? 'DROP INDEX `ix_nodes_type_name` ON `nodes`' : 'DROP INDEX "ix_nodes_type_name"');
  }
}

function isMysql(queryRunner: QueryRunner): boolean {
  const type = queryRunner.connection.options.type;
  return type === 'mysql' || type === 'mariadb';
}
