// Who is calling: a bearer token checked against the token store, or the configured anonymous role.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UnauthenticatedError } from '../domain/errors';
import { type Role } from './roles';
import { TokenStore } from './store';

export { TokenStore, type TokenInfo, type Verification } from './store';
export { ROLES, allows, isRole, type Access, type Role } from './roles';

/** The caller of one request. */
export interface Principal {
  readonly role: Role;
  /** Token id, or `anonymous`. */
  readonly id: string;
  readonly name: string;
}

export interface Authenticator {
  /** The principal of a request's Authorization header; throws UnauthenticatedError. */
  authenticate(authorization: string | undefined): Promise<Principal>;
}

export class TokenAuthenticator implements Authenticator {
  constructor(
    private readonly store: TokenStore,
    /** Role given to requests without an Authorization header; none refuses them. */
    private readonly anonymousRole?: Role,
  ) {}

  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (authorization === undefined || authorization === '') {
      if (this.anonymousRole) return { role: this.anonymousRole, id: 'anonymous', name: 'anonymous' };
      throw new UnauthenticatedError('a bearer token is required: send "Authorization: Bearer <token>"');
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw new UnauthenticatedError('the Authorization header must be "Bearer <token>"');
    const v = await this.store.verify(m[1]!);
    if (!v.ok) throw new UnauthenticatedError(v.reason === 'revoked' ? 'this token was revoked' : 'the bearer token is not valid');
    return { role: v.token.role, id: v.token.id, name: v.token.name };
  }
}

/**
 * The admin token of `vmflow dev`: reuses the one saved in `file` while it is still valid, else
 * creates one and saves it with mode 0600. Returns the secret and whether it was created now.
 */
export async function ensureAdminToken(store: TokenStore, file: string): Promise<{ secret: string; created: boolean }> {
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    const v = await store.verify(saved);
    if (v.ok && v.token.role === 'admin') return { secret: saved, created: false };
  }
  const { secret } = await store.create({ name: 'dev-admin', role: 'admin', createdBy: 'vmflow dev' });
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { secret, created: true };
}
