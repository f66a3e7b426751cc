// Runs the libvirt command-line tools as child processes: execFile with an argument vector, never
// a shell string. Cancellation kills the child; long calls keep reporting progress so the activity
// heartbeats while virsh works.
import { execFile } from 'node:child_process';
import type { DriverContext } from '../driver';

/** Why a command did not succeed. `exit`: it ran and failed; the others: it was cut short. */
export type CommandFailureReason = 'exit' | 'timeout' | 'aborted' | 'spawn';

/** Thrown by runCommand; the driver turns it into a DriverError or HostUnreachableError. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly reason: CommandFailureReason,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${file} ${(args[0] === '-c' ? args[2] : args[0]) ?? ''}: ${reason}: ${stderr.trim() || `exit ${exitCode}`}`);
  }
}

export interface RunOptions {
  readonly ctx?: DriverContext;
  /** Kill the child and fail with reason `timeout` after this long. */
  readonly timeoutMs?: number;
  /** Progress step reported every `heartbeatMs` while the child runs. */
  readonly step?: string;
  readonly heartbeatMs?: number;
  /** Sees stderr as it arrives (virsh migrate --verbose writes its percentage there). */
  readonly onStderr?: (chunk: string) => void;
}

export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** How long a cancelled child gets to clean up (virsh aborts a migration job on SIGINT) before SIGKILL. */
const KILL_GRACE_MS = 3000;

export function runCommand(file: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandOutput> {
  const signal = opts.ctx?.signal;
  return new Promise<CommandOutput>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CommandError(file, args, 'aborted', null, '', ''));
      return;
    }
    let cutShort: CommandFailureReason | undefined;
    const child = execFile(
      file,
      [...args],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C', LANG: 'C' } },
      (err, stdout, stderr) => {
        cleanup();
        if (!err) {
          resolve({ stdout, stderr });
          return;
        }
        const code = (err as NodeJS.ErrnoException).code;
        if (typeof code === 'string' && !cutShort) {
          // ENOENT/EACCES: the tool itself is missing.
          reject(new CommandError(file, args, 'spawn', null, stdout ?? '', `${code}: ${err.message}`));
          return;
        }
        const exitCode = typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
        reject(new CommandError(file, args, cutShort ?? 'exit', exitCode, stdout ?? '', stderr ?? ''));
      },
    );
    const kill = (reason: CommandFailureReason) => {
      if (cutShort) return;
      cutShort = reason;
      child.kill('SIGINT');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => kill('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    const timeout = opts.timeoutMs ? setTimeout(() => kill('timeout'), opts.timeoutMs) : undefined;
    const ctx = opts.ctx;
    const heartbeat =
      opts.step && ctx ? setInterval(() => ctx.progress({ step: opts.step! }), opts.heartbeatMs ?? 5000) : undefined;
    if (opts.onStderr) child.stderr?.on('data', (chunk: string | Buffer) => opts.onStderr!(chunk.toString()));
    function cleanup() {
      signal?.removeEventListener('abort', onAbort);
      if (timeout) clearTimeout(timeout);
      if (heartbeat) clearInterval(heartbeat);
      if (killTimer) clearTimeout(killTimer);
    }
  });
}
