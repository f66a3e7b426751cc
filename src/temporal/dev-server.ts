// Starts `temporal server start-dev`: the embedded Temporal server with its Web UI, used by
// `npm start` and by the tests. Custom search attributes are registered at start.
import type { ChildProcess } from 'node:child_process';
import { connectTemporal } from './connection';
import execa from 'execa';
import getPort from 'get-port';
import { backOff } from 'exponential-backoff';
import { SEARCH_ATTRIBUTE_TYPES } from '../domain/names';
import { temporalCli } from './binaries';

export interface DevServer {
  readonly address: string;
  readonly uiUrl?: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  /** SQLite file that keeps history across restarts; in memory when absent. */
  readonly dbFile?: string;
  readonly port?: number;
  readonly uiPort?: number;
  readonly ui?: boolean;
  readonly namespace?: string;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** How long the server gets to stop after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5000;

/**
 * Starts the dev server. The server picks some of its internal ports itself, so two servers
 * starting at once can collide; a start that fails that way is tried again on new ports.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  return backOff(() => startOnce(options), {
    numOfAttempts: options.port === undefined ? 3 : 1,
    startingDelay: 100,
    retry: (err) => err instanceof DevServerExited,
  });
}

class DevServerExited extends Error {}

async function startOnce(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? (await getPort({ host: '127.0.0.1' }));
  const ui = options.ui ?? false;
  const uiPort = options.uiPort ?? (ui ? await getPort({ host: '127.0.0.1' }) : undefined);
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--namespace', options.namespace ?? 'default', '--log-level', options.logLevel ?? 'error'];
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  if (ui) args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
  else args.push('--headless');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_TYPES)) args.push('--search-attribute', `${name}=${type}`);
  // Short TTLs for update/history limits are server defaults; lower the RPS limit nowhere.
  args.push('--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true');
  args.push('--dynamic-config-value', 'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true');
  args.push('--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true');
  // Runs until stopped: no timeout; only the tail of stderr is kept (for the error message).
  const child = execa(temporalCli(), args, { stdio: ['ignore', 'ignore', 'pipe'], buffer: false, reject: false });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const address = `127.0.0.1:${port}`;
  const exited = child.then((r) => r.exitCode);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new DevServerExited(`temporal server exited with ${child.exitCode}: ${stderr}`);
    try {
      const conn = await connectTemporal({ temporalAddress: address }, { connectTimeout: 1000 });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`temporal server did not answer on ${address} within 60 s: ${stderr || err}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    address,
    uiUrl: ui ? `http://127.0.0.1:${uiPort}` : undefined,
    process: child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM', { forceKillAfterTimeout: STOP_GRACE_MS });
      await exited;
    },
  };
}
