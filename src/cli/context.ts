// What every operator command shares: the configuration, a client of the REST API, and how a
// submitted command is reported (accepted, followed with --wait, or printed as JSON).
import { loadConfig, type Config } from '../config';
import { ApiClient, seg, tokenOf } from './api-client';
import { follow, printAccepted } from './follow';
import { type OutputOptions, isStructured, printData } from './output';
import { kindOf, type Accepted, type EnvironmentResource } from './resources';

export interface SubmitOptions extends OutputOptions {
  readonly wait?: boolean;
}

/** Runs `fn` with a client of the API at VMFLOW_API_URL, sending VMFLOW_TOKEN. */
export async function withApi<T>(fn: (api: ApiClient, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  return fn(new ApiClient(config.apiUrl, tokenOf(config)), config);
}

/** Reports an accepted command; with --wait follows it and prints how it ended. */
export async function reportCommand(api: ApiClient, accepted: Accepted, options: SubmitOptions): Promise<void> {
  const summary = { commandId: accepted.commandId, workflowId: accepted.workflowId, command: accepted.command, kind: kindOf(accepted.workflowId), target: accepted.target, webUi: accepted.webUi };
  if (isStructured(options)) {
    if (!options.wait) return printData(options, summary);
    const ended = await follow(api, accepted.workflowId, { quiet: true });
    return printData(options, { ...summary, status: ended.status, result: ended.result });
  }
  printAccepted(accepted);
  if (!options.wait) {
    process.stdout.write(`  follow it: vmflow commands show ${accepted.workflowId} --wait\n`);
    return;
  }
  const ended = await follow(api, accepted.workflowId);
  process.stdout.write(`${await outcomeLine(api, accepted, ended.result)}\n`);
}

/**
 * How a completed command left its target: `done: web1 is running on hv-2` for a container;
 * for an environment, what its members are doing now and the containers the command created.
 */
export async function outcomeLine(api: ApiClient, accepted: Pick<Accepted, 'workflowId' | 'target' | 'command'>, result: unknown): Promise<string> {
  const r = (result ?? {}) as { state?: string; host?: string; created?: unknown };
  if (kindOf(accepted.workflowId) === 'container') return `done: ${accepted.target} is ${r.state ?? 'done'}${r.host ? ` on ${r.host}` : ''}`;
  const created = Array.isArray(r.created) && r.created.length ? `; created ${r.created.join(', ')}` : '';
  if (accepted.command === 'destroy') return `done: environment ${accepted.target} is destroyed`;
  const env = await api.get<EnvironmentResource>(`/v1/environments/${seg(accepted.target)}`).catch(() => undefined);
  return `done: environment ${accepted.target} is ${env?.state ?? r.state ?? 'done'}${created}`;
}
