// Runs the libvirt command-line tools as child processes: an argument vector, never a shell string.
// Cancellation kills the child; long calls keep reporting progress so the activity heartbeats
// while virsh works.
import execa from 'execa';
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
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export async function runCommand(file: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandOutput> {
  const signal = opts.ctx?.signal;
  if (signal?.aborted) throw new CommandError(file, args, 'aborted', null, '', '');
  const child = execa(file, [...args], {
    env: { LC_ALL: 'C', LANG: 'C' },
    maxBuffer: MAX_OUTPUT_BYTES,
    stripFinalNewline: false,
    // A call that outlives its timeout gets SIGTERM, and SIGKILL when it ignores that (execa).
    timeout: opts.timeoutMs ?? 0,
    killSignal: 'SIGTERM',
    // A virsh still running when this process exits finishes or fails its job by itself; the
    // next attempt finds what it left.
    cleanup: false,
  });
  let aborted = false;
  let forceKill: NodeJS.Timeout | undefined;
  const onAbort = () => {
    aborted = true;
    // SIGINT, not execa's SIGTERM: virsh aborts the job it watches (a migration) on SIGINT only.
    // execa follows only SIGTERM with SIGKILL, so the grace is timed here.
    child.kill('SIGINT');
    forceKill = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    forceKill.unref();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const ctx = opts.ctx;
  const heartbeat =
    opts.step && ctx ? setInterval(() => ctx.progress({ step: opts.step! }), opts.heartbeatMs ?? 5000) : undefined;
  if (opts.onStderr) child.stderr?.on('data', (chunk: string | Buffer) => opts.onStderr!(chunk.toString()));
  try {
    const { stdout, stderr } = await child;
    return { stdout, stderr };
  } catch (err) {
    throw commandError(file, args, err as execa.ExecaError, aborted);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (heartbeat) clearInterval(heartbeat);
    if (forceKill) clearTimeout(forceKill);
  }
}

function commandError(file: string, args: readonly string[], err: execa.ExecaError, aborted: boolean): CommandError {
  const stdout = err.stdout ?? '';
  const stderr = err.stderr ?? '';
  if (aborted) return new CommandError(file, args, 'aborted', null, stdout, stderr);
  if (err.timedOut) return new CommandError(file, args, 'timeout', null, stdout, stderr);
  const code = (err as unknown as NodeJS.ErrnoException).code;
  if (typeof code === 'string') {
    // ENOENT/EACCES: the tool itself is missing.
    return new CommandError(file, args, 'spawn', null, stdout, `${code}: ${err.originalMessage ?? err.message}`);
  }
  return new CommandError(file, args, 'exit', typeof err.exitCode === 'number' ? err.exitCode : null, stdout, stderr);
}
