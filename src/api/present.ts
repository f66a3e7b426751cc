// How resources look on the wire: ISO 8601 UTC times, related resources as `{ id, name, href }`.
import type { CommandHandle, CommandInfo, CommandSummary, EnvironmentMember } from '../service';
import type { TokenInfo } from '../auth';
import { META, type NodeRecord, type Resources } from '../domain/types';

export const href = {
  hypervisor: (id: string) => `/v1/hypervisors/${id}`,
  container: (id: string) => `/v1/containers/${id}`,
  environment: (id: string) => `/v1/environments/${id}`,
  command: (workflowId: string) => `/v1/commands/${workflowId}`,
  token: (id: string) => `/v1/tokens/${id}`,
  agent: (id: string) => `/v1/agents/${id}`,
};

const HREF_OF_TYPE: Record<string, (id: string) => string> = {
  hypervisor: href.hypervisor,
  container: href.container,
  environment: href.environment,
  placeholder: (id) => `/v1/nodes/${id}`,
};

export function nodeHref(node: Pick<NodeRecord, 'id' | 'type'>): string {
  return (HREF_OF_TYPE[node.type] ?? HREF_OF_TYPE.placeholder!)(node.id);
}

function base(node: NodeRecord) {
  return {
    id: node.id,
    name: node.name,
    href: nodeHref(node),
    state: node.state,
    definition: node.definition,
    metadata: node.metadata,
    tags: node.tags,
    keys: node.keys,
    version: node.version,
    createdAt: node.createdAt,
    updatedAt: node.updatedAt,
  };
}

export function hypervisor(node: NodeRecord, usage?: Resources) {
  return { ...base(node), containers: { href: `${href.hypervisor(node.id)}/containers` }, ...(usage ? { usage } : {}) };
}

/** `names` maps node ids to names, for the links (hosts and environments). */
export function container(node: NodeRecord, names: ReadonlyMap<string, string>) {
  const envId = typeof node.metadata[META.environment] === 'string' ? (node.metadata[META.environment] as string) : undefined;
  // Object.assign onto base(), not spreads: a page of 100 built with spreads took a millisecond.
  return Object.assign(base(node), {
    parent: node.parentId ? { id: node.parentId, name: names.get(node.parentId), href: href.hypervisor(node.parentId) } : null,
    environment: envId ? { id: envId, name: names.get(envId), href: href.environment(envId) } : null,
    commands: { href: `/v1/commands?container=${encodeURIComponent(node.name)}` },
  });
}

export function member(m: EnvironmentMember, hostIds: ReadonlyMap<string, string>) {
  const hostId = m.host ? hostIds.get(m.host) : undefined;
  return {
    id: m.id,
    name: m.name,
    href: href.container(m.id),
    kind: m.kind,
    priority: m.priority,
    state: m.state,
    ip: m.ip,
    host: m.host ? { id: hostId ?? m.host, name: m.host, href: href.hypervisor(hostId ?? m.host) } : null,
  };
}

/** `state` is what its members are doing (environmentState), not the registry's lifecycle mark. */
export function environment(node: NodeRecord, state: string, members?: ReturnType<typeof member>[]) {
  return { ...base(node), state, members: { href: `${href.environment(node.id)}/members`, ...(members ? { items: members } : {}) } };
}

export function webUi(webUiUrl: string, namespace: string, workflowId: string): string {
  return `${webUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export function accepted(handle: CommandHandle<unknown>, webUiUrl: string, namespace: string) {
  return {
    commandId: handle.commandId,
    workflowId: handle.workflowId,
    command: handle.command,
    target: handle.target,
    href: href.command(handle.workflowId),
    webUi: webUi(webUiUrl, namespace, handle.workflowId),
  };
}

export function command(c: CommandSummary | CommandInfo, webUiUrl: string, namespace: string) {
  const { hosts, target, ...rest } = c as CommandInfo;
  const targetHref = c.kind === 'environment' ? href.environment(target) : href.container(target);
  return {
    ...rest,
    target: { name: target, href: targetHref },
    ...(hosts ? { hosts: hosts.map((h) => ({ name: h, href: href.hypervisor(h) })) } : {}),
    ...('result' in c && c.result !== undefined && (c.result === null || typeof c.result !== 'object') ? { result: { value: c.result } } : {}),
    href: href.command(c.workflowId),
    webUi: webUi(webUiUrl, namespace, c.workflowId),
  };
}

export function token(t: TokenInfo) {
  return { ...t, href: href.token(t.id) };
}
