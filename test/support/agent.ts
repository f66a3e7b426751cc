// A vmflow agent as its own OS process (src/agent/main.ts), so a test can SIGKILL it mid-operation
// the way a host's agent dies, and start another one.
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export interface AgentProcess {
  readonly host: string;
  readonly pid: number;
  /** The worker identity Temporal records for the activities it runs (runAgent's default). */
  readonly identity: string;
  readonly child: ChildProcess;
  /** Settles with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** Sends the signal and waits for the process to exit. SIGTERM drains; SIGKILL is a crash. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * Starts `src/agent/main.ts --host <host>` against the Temporal server at `temporalAddress` and
 * resolves once it prints its ready line (its worker polls `agentQueue(host)`).
 */
export async function spawnAgent(options: { temporalAddress: string; host: string; namespace?: string; readyTimeoutMs?: number }): Promise<AgentProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VMFLOW_TEMPORAL_ADDRESS: options.temporalAddress,
    VMFLOW_NAMESPACE: options.namespace ?? 'default',
    VMFLOW_LOG_LEVEL: 'warn',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'agent', 'main.ts'), '--host', options.host], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const ready = new Promise<{ pid: number }>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{') && l.includes('"agent"'));
      if (line) {
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // keep draining what it prints later
        resolve(JSON.parse(line));
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => reject(new Error(`agent for ${options.host} exited with ${code} before it was ready:\n${stderr}`)));
  });
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`agent for ${options.host} not ready within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
  });
  try {
    await Promise.race([ready, timeout]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const pid = child.pid!;
  return {
    host: options.host,
    pid,
    identity: `vmflow-agent/${options.host}@${hostname()}:${pid}`,
    child,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}
