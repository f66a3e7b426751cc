// What every CLI command shares: the configuration, a connected client, and how a submitted
// command is reported (accepted, followed with --wait, or printed as JSON).
import os from 'node:os';
import type { CommandHandle, Vmflow } from '../client';
import { loadConfig, type Config } from '../config';
import { follow, printAccepted, webUiLink } from './follow';
import { printJson, type OutputOptions } from './output';

export interface SubmitOptions extends OutputOptions {
  readonly wait?: boolean;
}

function identity(): string {
  try {
    return `cli:${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return 'cli';
  }
}

/** Runs `fn` with a client connected to Temporal and the registry, as the configuration says. */
export async function withClient<T>(fn: (client: Vmflow, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Loaded here, not at the top: commands that need no client start faster.
  const { connect } = await import('../client');
  let client: Vmflow;
  try {
    client = await connect({ temporalAddress: config.temporalAddress, namespace: config.namespace, registryUrl: config.registryUrl, identity: identity() });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code) throw err;
    throw new Error(`cannot reach Temporal at ${config.temporalAddress} (VMFLOW_TEMPORAL_ADDRESS) or the registry at ${config.registryUrl} (VMFLOW_REGISTRY_URL): ${e.message}`);
  }
  try {
    return await fn(client, config);
  } finally {
    await client.close();
  }
}

/** Reports an accepted command; with --wait follows it and prints how it ended. */
export async function reportCommand(handle: CommandHandle<unknown>, options: SubmitOptions, config: Config): Promise<void> {
  const webUi = webUiLink(config.webUiUrl, config.namespace, handle.workflowId);
  const accepted = { commandId: handle.commandId, workflowId: handle.workflowId, command: handle.command, kind: handle.kind, target: handle.target, webUi };
  if (options.output === 'json') {
    if (!options.wait) return printJson(accepted);
    const result = await follow(handle, { webUiUrl: config.webUiUrl, namespace: config.namespace, quiet: true });
    return printJson({ ...accepted, status: 'COMPLETED', result });
  }
  printAccepted(handle, { webUiUrl: config.webUiUrl, namespace: config.namespace });
  if (!options.wait) {
    process.stdout.write(`  follow it: vmflow commands show ${handle.workflowId} --wait\n`);
    return;
  }
  const result = (await follow(handle, { webUiUrl: config.webUiUrl, namespace: config.namespace })) as { state?: string; host?: string; created?: { name: string; host: string } } | undefined;
  const where = result?.host ? ` on ${result.host}` : '';
  const created = result?.created ? `; created ${result.created.name} on ${result.created.host}` : '';
  process.stdout.write(`done: ${handle.target} is ${result?.state ?? 'done'}${where}${created}\n`);
}
