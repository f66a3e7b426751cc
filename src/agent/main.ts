// Entry of the agent as its own process: `node --import tsx src/agent/main.ts --host <name>`.
// Temporal address and namespace come from the configuration (VMFLOW_TEMPORAL_ADDRESS,
// VMFLOW_NAMESPACE, VMFLOW_CONFIG), as for every vmflow process. `vmflow agent --host` does the same.
import { loadConfig } from '../config';
import { runAgentProcess } from './index';

function hostArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--host') return argv[i + 1];
    if (a.startsWith('--host=')) return a.slice('--host='.length);
  }
  return undefined;
}

async function main(): Promise<void> {
  const host = hostArgument(process.argv.slice(2));
  if (!host) {
    console.error('usage: agent --host <hypervisor name>');
    process.exitCode = 2;
    return;
  }
  const config = loadConfig();
  await runAgentProcess({ temporalAddress: config.temporalAddress, namespace: config.namespace, host });
}

main().catch((err) => {
  console.error(`vmflow agent: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
