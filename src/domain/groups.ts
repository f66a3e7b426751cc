// Placement groups a container counts toward (its `vmflow.groups` metadata and its placeholders):
// `env:<id>` for an environment's members, `group:<name>` for a named group, and
// `spread:env:<id>:<kind>` for the members of one environment with the same kind, which are kept
// on different hosts whenever another host fits (a soft anti-affinity: broken, and said so, only
// when nothing else fits).

const SPREAD = 'spread:';

/** The soft anti-affinity group of an environment's members of one kind. */
export function spreadGroup(environmentGroup: string, kind: string): string {
  return `${SPREAD}${environmentGroup}:${kind}`;
}

/** The groups among `groups` to keep apart from when another host fits. */
export function spreadGroupsOf(groups: readonly string[] | undefined): string[] {
  return (groups ?? []).filter((g) => g.startsWith(SPREAD));
}
