// The one place that knows task-queue names, search attributes and workflow ids. Pure.

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

export const SEARCH_ATTRIBUTE_TYPES: Record<string, 'Keyword' | 'KeywordList'> = {
  VmflowContainer: 'Keyword',
  VmflowHypervisor: 'KeywordList',
  VmflowEnvironment: 'Keyword',
  VmflowCommand: 'Keyword',
};

export const workflowIds = {
  containerEntity: (name: string) => `container/${name}`,
  containerCommand: (name: string, command: string, commandId: string) => `container/${name}/${command}/${commandId}`,
  environmentEntity: (name: string) => `environment/${name}`,
  environmentCommand: (name: string, command: string, commandId: string) => `environment/${name}/${command}/${commandId}`,
  hypervisorCommand: (name: string, command: string, commandId: string) => `hypervisor/${name}/${command}/${commandId}`,
};
