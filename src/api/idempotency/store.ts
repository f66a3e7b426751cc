// Idempotency-Key answers, kept in the registry's database through their own DataSource, entity
// and migrations table (`vmflow_api_migrations`), as the token store does. A key is bound, per
// token, to the request it first came with (method, path and body, as a sha256 fingerprint) and,
// once that request was accepted, to the answer it got.
//
// Kept in the database rather than derived into the workflow id: a key must be bound to its
// request whatever that request names (the same key sent to stop web1 and then web2 is a misuse
// to refuse, and the two workflow ids would differ), and Temporal forgets a workflow id after the
// namespace's retention and an entity's update ids when it continues as new or ends. One row per
// key says all of it, for as long as keys are kept, on every API replica.
import { DataSource, EntitySchema, IsNull, LessThan, type Repository } from 'typeorm';
import { dataSourceFor, migrate, type Schema } from '../../registry';
import { isUniqueViolation } from '../../registry/db-errors';
import { IdempotencyKeys1700000200001 } from './migration';

interface KeyRow {
  scope: string;
  key: string;
  fingerprint: string;
  /** `POST /v1/containers/web1/stop`, for the message when the key is reused. */
  request: string;
  /** Null while the first request is still being answered. */
  status: number | null;
  answer: string | null;
  createdAt: string;
}

const KeyEntity = new EntitySchema<KeyRow>({
  name: 'IdempotencyKey',
  tableName: 'vmflow_api_idempotency_keys',
  columns: {
    scope: { type: 'varchar', length: 64, primary: true },
    key: { name: 'idempotency_key', type: 'varchar', length: 255, primary: true },
    fingerprint: { type: 'varchar', length: 64 },
    request: { type: 'varchar', length: 600 },
    status: { type: 'int', nullable: true },
    answer: { type: 'text', nullable: true },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
  },
});

const SCHEMA: Schema = {
  entities: [KeyEntity],
  migrations: [IdempotencyKeys1700000200001],
  migrationsTableName: 'vmflow_api_migrations',
  lockName: 'vmflow_api_migrations',
};

/** How long a key is kept: a client retries within minutes; a day leaves room for a long outage. */
export const KEY_TTL_MS = 24 * 3600 * 1000;

/** The answer a first request got, to be given again. */
export interface StoredAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

export type Claim =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly answer: StoredAnswer }
  /** The key came first with another request. */
  | { readonly kind: 'mismatch'; readonly request: string }
  /** The first request with this key is still being answered. */
  | { readonly kind: 'in-progress'; readonly request: string };

export class IdempotencyStore {
  private readonly keys: Repository<KeyRow>;
  private lastPurge = 0;

  private constructor(private readonly dataSource: DataSource) {
    this.keys = dataSource.getRepository(KeyEntity);
  }

  /** Opens the store on a registry URL and migrates its table. */
  static async open(url: string): Promise<IdempotencyStore> {
    const { dialect, dataSourceOptions } = dataSourceFor({ url, poolSize: 4 }, SCHEMA);
    const dataSource = new DataSource(dataSourceOptions);
    await dataSource.initialize();
    try {
      await migrate(dataSource, dialect, SCHEMA.lockName);
    } catch (err) {
      await dataSource.destroy().catch(() => undefined);
      throw err;
    }
    return new IdempotencyStore(dataSource);
  }

  /**
   * Binds `key` (within `scope`, the token) to a request, or says what it is already bound to.
   * Two requests racing with one key: the database's primary key lets one of them in.
   */
  async claim(scope: string, key: string, fingerprint: string, request: string, now = new Date()): Promise<Claim> {
    await this.purge(now);
    for (;;) {
      const row = await this.keys.findOneBy({ scope, key });
      if (row && Date.parse(row.createdAt) > now.getTime() - KEY_TTL_MS) {
        if (row.fingerprint !== fingerprint) return { kind: 'mismatch', request: row.request };
        if (row.status === null) return { kind: 'in-progress', request: row.request };
        return { kind: 'replay', answer: { status: row.status, ...(JSON.parse(row.answer ?? '{}') as { headers: Record<string, string>; body: unknown }) } };
      }
      if (row) await this.keys.delete({ scope, key, createdAt: row.createdAt });
      try {
        await this.keys.insert({ scope, key, fingerprint, request: request.slice(0, 600), status: null, answer: null, createdAt: now.toISOString() });
        return { kind: 'new' };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Another request took the key meanwhile: read what it bound it to.
      }
    }
  }

  /** Records the answer the first request got. */
  async answered(scope: string, key: string, answer: StoredAnswer): Promise<void> {
    await this.keys.update({ scope, key }, { status: answer.status, answer: JSON.stringify({ headers: answer.headers, body: answer.body }) });
  }

  /** Frees a key whose request was refused or failed, so that it may be sent again. */
  async release(scope: string, key: string): Promise<void> {
    await this.keys.delete({ scope, key, status: IsNull() });
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }

  /** Drops keys past their time, at most once a minute. */
  private async purge(now: Date): Promise<void> {
    if (now.getTime() - this.lastPurge < 60_000) return;
    this.lastPurge = now.getTime();
    await this.keys.delete({ createdAt: LessThan(new Date(now.getTime() - KEY_TTL_MS).toISOString()) });
  }
}
