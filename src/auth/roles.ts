// Roles of API callers, each allowed everything the ones before it are: viewer reads, operator
// runs commands, admin manages hypervisors and tokens.
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a route needs: a role, or `public` for the few routes anyone may call (health, OpenAPI). */
export type Access = Role | 'public';

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when `role` may call a route that needs `needed`. */
export function allows(role: Role | undefined, needed: Access): boolean {
  if (needed === 'public') return true;
  if (!role) return false;
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}
