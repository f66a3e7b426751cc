// The one place that knows task-queue names, search attributes and workflow ids. Pure.
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

export const TASK_QUEUE = 'vmflow';

/** Task queue of the agent running on one hypervisor host. */
export function agentQueue(hostName: string): string {
  return `vmflow-agent-${hostName}`;
}

/** Custom search attributes; the start script and the test harness register them. */
export const SEARCH_ATTRIBUTES = {
  container: 'VmflowContainer',
  hypervisor: 'VmflowHypervisor',
  environment: 'VmflowEnvironment',
  command: 'VmflowCommand',
} as const;

/** The same attributes as typed keys, for setting them (`typedSearchAttributes`, `upsertSearchAttributes`). */
export const SEARCH_ATTRIBUTE_KEYS = {
  container: defineSearchAttributeKey(SEARCH_ATTRIBUTES.container, SearchAttributeType.KEYWORD),
  /** Every host a command touched (source and target of a migration). */
  hypervisor: defineSearchAttributeKey(SEARCH_ATTRIBUTES.hypervisor, SearchAttributeType.KEYWORD_LIST),
  environment: defineSearchAttributeKey(SEARCH_ATTRIBUTES.environment, SearchAttributeType.KEYWORD),
  command: defineSearchAttributeKey(SEARCH_ATTRIBUTES.command, SearchAttributeType.KEYWORD),
} as const;

/** Their types as the Temporal CLI names them (`--search-attribute Name=Type`). */
export const SEARCH_ATTRIBUTE_TYPES: Record<string, 'Keyword' | 'KeywordList'> = Object.fromEntries(
  Object.values(SEARCH_ATTRIBUTE_KEYS).map((k) => [k.name, k.type === SearchAttributeType.KEYWORD_LIST ? 'KeywordList' : 'Keyword']),
);

export const workflowIds = {
  containerEntity: (name: string) => `container/${name}`,
  containerCommand: (name: string, command: string, commandId: string) => `container/${name}/${command}/${commandId}`,
  environmentEntity: (name: string) => `environment/${name}`,
  environmentCommand: (name: string, command: string, commandId: string) => `environment/${name}/${command}/${commandId}`,
  hypervisorCommand: (name: string, command: string, commandId: string) => `hypervisor/${name}/${command}/${commandId}`,
};
