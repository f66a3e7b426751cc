// API tokens, in the registry's database but through their own TypeORM DataSource, entity and
// migrations table (`vmflow_auth_migrations`): the registry stays the only code that touches
// `nodes`. A token is `vmflow_<id>_<secret>`; only the id and sha256(secret) are stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataSource, EntitySchema, IsNull, type Repository } from 'typeorm';
import { InvalidInputError, NotFoundError } from '../domain/errors';
import { dataSourceFor, migrate, type RegistryTls, type Schema } from '../registry';
import { ApiTokens1700000100001 } from './migrations/1700000100001-ApiTokens';
import { isRole, ROLES, type Role } from './roles';

/** A row of `vmflow_api_tokens`. */
interface TokenRow {
  id: string;
  name: string;
  role: string;
  hash: string;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

const TokenEntity = new EntitySchema<TokenRow>({
  name: 'ApiToken',
  tableName: 'vmflow_api_tokens',
  columns: {
    id: { type: 'varchar', length: 32, primary: true },
    name: { type: 'varchar', length: 64 },
    role: { type: 'varchar', length: 16 },
    hash: { type: 'varchar', length: 64, unique: true },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    createdBy: { name: 'created_by', type: 'varchar', length: 255 },
    revokedAt: { name: 'revoked_at', type: 'varchar', length: 32, nullable: true },
  },
});

/** A token as it is listed: never its secret. Times are ISO 8601 UTC. */
export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly revokedAt: string | null;
}

export type Verification = { readonly ok: true; readonly token: TokenInfo } | { readonly ok: false; readonly reason: 'malformed' | 'unknown' | 'revoked' };

const TOKEN = /^vmflow_([a-f0-9]{12})_([A-Za-z0-9_-]{43})$/;
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,63}$/;

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function infoOf(row: TokenRow): TokenInfo {
  return { id: row.id, name: row.name, role: row.role as Role, createdAt: row.createdAt, createdBy: row.createdBy, revokedAt: row.revokedAt };
}

export class TokenStore {
  private readonly tokens: Repository<TokenRow>;

  private constructor(private readonly dataSource: DataSource) {
    this.tokens = dataSource.getRepository(TokenEntity);
  }

  /** Opens the store on a registry URL (`sqlite:<file>` or `mysql://...`) and migrates its table. */
  static async open(url: string, tls?: RegistryTls): Promise<TokenStore> {
    const { dialect, dataSourceOptions } = dataSourceFor({ url, poolSize: 4, tls }, AUTH_SCHEMA);
    const dataSource = new DataSource(dataSourceOptions);
    await dataSource.initialize();
    try {
      await migrate(dataSource, dialect, AUTH_SCHEMA.lockName);
    } catch (err) {
      await dataSource.destroy().catch(() => undefined);
      throw err;
    }
    return new TokenStore(dataSource);
  }

  /** Creates a token; the returned secret is shown once and cannot be recovered. */
  async create(input: { name: string; role: Role; createdBy?: string }): Promise<{ token: TokenInfo; secret: string }> {
    const problems = [];
    if (typeof input.name !== 'string' || !TOKEN_NAME.test(input.name)) problems.push({ field: 'name', problem: 'must be 1 to 64 letters, digits, spaces or _ . @ -, starting with a letter or digit' });
    if (!isRole(input.role)) problems.push({ field: 'role', problem: `must be one of ${ROLES.join(', ')}` });
    if (problems.length) throw new InvalidInputError(problems, 'token');
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32);
    const row: TokenRow = {
      id,
      name: input.name,
      role: input.role,
      hash: sha256(secret),
      createdAt: new Date().toISOString(),
      createdBy: input.createdBy ?? 'unknown',
      revokedAt: null,
    };
    await this.tokens.insert(row);
    return { token: infoOf(row), secret: `vmflow_${id}_${secret.toString('base64url')}` };
  }

  /** Every token, newest first; revoked ones only when asked. */
  async list(options: { includeRevoked?: boolean } = {}): Promise<TokenInfo[]> {
    const rows = await this.tokens.find({ where: options.includeRevoked ? {} : { revokedAt: IsNull() }, order: { createdAt: 'DESC', id: 'ASC' } });
    return rows.map(infoOf);
  }

  async get(id: string): Promise<TokenInfo> {
    const row = typeof id === 'string' && /^[a-f0-9]{12}$/.test(id) ? await this.tokens.findOneBy({ id }) : null;
    if (!row) throw new NotFoundError('token', id);
    return infoOf(row);
  }

  /** Revokes a token: requests carrying it are refused from now on. Revoking twice is a no-op. */
  async revoke(id: string): Promise<TokenInfo> {
    const token = await this.get(id);
    if (token.revokedAt) return token;
    const revokedAt = new Date().toISOString();
    await this.tokens.update({ id, revokedAt: IsNull() }, { revokedAt });
    return this.get(id);
  }

  /** Checks a presented token against the stored hash, in constant time. */
  async verify(presented: string): Promise<Verification> {
    const m = TOKEN.exec(presented);
    if (!m) return { ok: false, reason: 'malformed' };
    // Every request checks its token: plain SQL, without the repository's query building.
    const rows: TokenRow[] = await this.dataSource.query(
      'SELECT `id`, `name`, `role`, `hash`, `created_at` AS `createdAt`, `created_by` AS `createdBy`, `revoked_at` AS `revokedAt` FROM `vmflow_api_tokens` WHERE `id` = ?',
      [m[1]!],
    );
    const row = rows[0];
    if (!row) return { ok: false, reason: 'unknown' };
    const given = Buffer.from(sha256(Buffer.from(m[2]!, 'base64url')), 'hex');
    const stored = Buffer.from(row.hash, 'hex');
    if (given.length !== stored.length || !timingSafeEqual(given, stored)) return { ok: false, reason: 'unknown' };
    if (row.revokedAt) return { ok: false, reason: 'revoked' };
    if (!isRole(row.role)) return { ok: false, reason: 'unknown' };
    return { ok: true, token: infoOf(row) };
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

const AUTH_SCHEMA: Schema = {
  entities: [TokenEntity],
  migrations: [ApiTokens1700000100001],
  migrationsTableName: 'vmflow_auth_migrations',
  lockName: 'vmflow_auth_migrations',
};
