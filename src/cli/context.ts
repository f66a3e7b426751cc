// What every operator command shares: the configuration, a client of the REST API, and how a
// submitted command is reported (accepted, followed with --wait, or printed as JSON).
import { loadConfig, type Config } from '../config';
import { ApiClient, tokenOf } from './api-client';
import { follow, printAccepted } from './follow';
import { printJson, type OutputOptions } from './output';
import { kindOf, type Accepted } from './resources';

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
  if (options.output === 'json') {
    if (!options.wait) return printJson(summary);
    const ended = await follow(api, accepted.workflowId, { quiet: true });
    return printJson({ ...summary, status: ended.status, result: ended.result });
  }
  printAccepted(accepted);
  if (!options.wait) {
    process.stdout.write(`  follow it: vmflow commands show ${accepted.workflowId} --wait\n`);
    return;
  }
  const result = (await follow(api, accepted.workflowId)).result as { state?: string; host?: string; created?: { name: string; host: string } } | undefined;
  const where = result?.host ? ` on ${result.host}` : '';
  const created = result?.created ? `; created ${result.created.name} on ${result.created.host}` : '';
  process.stdout.write(`done: ${accepted.target} is ${result?.state ?? 'done'}${where}${created}\n`);
}
