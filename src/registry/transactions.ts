// How the registry talks to its database: every write is one transaction, run again from the
// start on deadlocks and vanished competitors; on SQLite everything takes turns on its one
// shared connection.
import { Mutex } from 'async-mutex';
import { backOff } from 'exponential-backoff';
import type { DataSource, EntityManager } from 'typeorm';
import { isTransient, RetryTransaction } from './db-errors';

export type Dialect = 'sqlite' | 'mysql';

export type Work<T> = (m: EntityManager) => Promise<T>;

/** Attempts of one transaction before a deadlock or a vanished competitor becomes the caller's problem. */
const MAX_ATTEMPTS = 10;

/** Pooled MySQL connections whose session already runs READ COMMITTED. */
const readCommitted = new WeakSet<object>();

export class Transactions {
  /** Serialises everything on SQLite's one shared connection, so no call sees another's open transaction. */
  private readonly sqliteLock = new Mutex();

  constructor(
    readonly dataSource: DataSource,
    readonly dialect: Dialect,
  ) {}

  /** Runs `work` in one transaction, again from the start on deadlocks and vanished competitors. */
  write<T>(work: Work<T>): Promise<T> {
    return this.retried(() => (this.dialect === 'sqlite' ? this.sqliteTransaction(work) : this.mysqlTransaction(work)));
  }

  /**
   * Runs one write statement, atomic by itself, without a transaction around it: no BEGIN and
   * COMMIT round trips. Retried as write() retries.
   */
  writeOne<T>(work: Work<T>): Promise<T> {
    return this.retried(() => this.read(work));
  }

  private async retried<T>(attempt: () => Promise<T>): Promise<T> {
    let attempts = 0;
    try {
      return await backOff(
        () => {
          attempts++;
          return attempt();
        },
        { numOfAttempts: MAX_ATTEMPTS, startingDelay: 10, timeMultiple: 2, maxDelay: 200, jitter: 'full', retry: isRetryable },
      );
    } catch (err) {
      if (!isRetryable(err)) throw err;
      throw new Error(`registry transaction gave up after ${attempts} attempts: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Runs `work` outside a transaction (on SQLite, in turn with the transactions). */
  read<T>(work: Work<T>): Promise<T> {
    if (this.dialect === 'sqlite') return this.sqliteLock.runExclusive(() => work(this.dataSource.manager));
    return work(this.dataSource.manager);
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.sqliteLock.runExclusive(() => this.dataSource.destroy());
  }

  private sqliteTransaction<T>(work: Work<T>): Promise<T> {
    return this.sqliteLock.runExclusive(async () => {
      // TypeORM shares one query runner per SQLite connection. BEGIN IMMEDIATE takes the write
      // lock up front, so a read-then-write transaction never fails to upgrade under contention.
      const runner = this.dataSource.createQueryRunner();
      await runner.query('BEGIN IMMEDIATE');
      try {
        const result = await work(runner.manager);
        await runner.query('COMMIT');
        return result;
      } catch (err) {
        await runner.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  private async mysqlTransaction<T>(work: Work<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    const connection: object = await runner.connect();
    try {
      // READ COMMITTED, set once per pooled connection rather than once per transaction.
      if (!readCommitted.has(connection)) {
        await runner.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
        readCommitted.add(connection);
      }
      await runner.startTransaction();
      try {
        const result = await work(runner.manager);
        await runner.commitTransaction();
        return result;
      } catch (err) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    } finally {
      await runner.release();
    }
  }
}

function isRetryable(err: unknown): boolean {
  return err instanceof RetryTransaction || isTransient(err);
}

/** Whether reads for writing must lock their rows: MySQL does; SQLite's transaction already excludes writers. */
export function locksRows(m: EntityManager): boolean {
  const type = m.connection.options.type;
  return type === 'mysql' || type === 'mariadb';
}
