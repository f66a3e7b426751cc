// `tsx src/sim/main.ts --port 7070 --state-dir .vmflow/sim [--hosts 4] [--host-size 16:65536:1000] [--delay start=200]`
// Prints one JSON line `{"url":"http://127.0.0.1:PORT"}` once listening; SIGTERM/SIGINT close it cleanly.
import { parseArgs } from 'node:util';
import { runSim } from './index';
import type { HostInit } from './protocol';

const USAGE =
  'usage: sim --port <port, 0 = any free> --state-dir <dir> [--hosts <n>] [--host-size <cpus:memoryMiB:diskGiB>] ' +
  '[--delay <operation|*>=<ms>]...';

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function integer(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) fail(`${what} must be a non-negative integer, not ${text}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '7070' },
      'state-dir': { type: 'string' },
      hosts: { type: 'string', default: '0' },
      'host-size': { type: 'string', default: '16:65536:1000' },
      delay: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const stateDir = values['state-dir'] ?? fail('--state-dir is required');
  const [cpus, memoryMiB, diskGiB] = values['host-size'].split(':').map((p) => integer(p, '--host-size'));
  if (!cpus || !memoryMiB || !diskGiB) fail('--host-size must be cpus:memoryMiB:diskGiB, all positive');
  const hosts: HostInit[] = Array.from({ length: integer(values.hosts, '--hosts') }, (_, i) => ({
    id: `hv-${i + 1}`,
    cpus,
    memoryMiB,
    diskGiB,
  }));
  const delays: Record<string, number> = {};
  for (const d of values.delay) {
    const [op, ms] = d.split('=');
    if (!op || ms === undefined) fail(`--delay must be operation=ms, not ${d}`);
    delays[op] = integer(ms, `--delay ${op}`);
  }

  const sim = await runSim({ port: integer(values.port, '--port'), stateDir, defaults: { hosts, delays } });
  process.stdout.write(`${JSON.stringify({ url: sim.url })}\n`);
  const stop = () => {
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`sim: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`sim: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
