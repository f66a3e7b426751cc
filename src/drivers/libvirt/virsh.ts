// The one way the driver talks to libvirt: `virsh -c <uri> ...` per call, its failures turned into
// DriverError (the host refused) or HostUnreachableError (it did not answer).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { posix as path } from 'node:path';
import { DriverError, HostUnreachableError } from '../../domain/errors';
import type { DriverContext, HostRef } from '../driver';
import { CommandError, runCommand, type RunOptions } from './command';
import { DRIVER } from './settings';
import { isDomainMissing, isTransient, isUnreachable, libvirtMessage, parseDomState } from './virsh-output';

export type VirshRunOptions = Omit<RunOptions, 'ctx'>;

export class Virsh {
  constructor(
    private readonly binary: string,
    /** Default timeout of a call; 0 in a call's options means none. */
    private readonly timeoutMs: number,
  ) {}

  /** Runs `virsh -c <uri> ...args` and returns its stdout. */
  async run(host: HostRef, operation: string, args: readonly string[], ctx: DriverContext, run: VirshRunOptions = {}): Promise<string> {
    try {
      const timeoutMs = run.timeoutMs === 0 ? undefined : (run.timeoutMs ?? this.timeoutMs);
      const out = await runCommand(this.binary, ['-c', host.definition.address, ...args], { ...run, ctx, timeoutMs });
      return out.stdout;
    } catch (err) {
      throw translate(err, host, operation, ctx);
    }
  }

  /**
   * Whether `event` fires for the domain within `seconds` (virsh event --timeout). Ends early,
   * with false, when `signal` aborts; a failure to listen is also false.
   */
  async waitForEvent(host: HostRef, name: string, event: string, seconds: number, ctx: DriverContext): Promise<boolean> {
    const args = ['-c', host.definition.address, 'event', `--domain=${name}`, `--event=${event}`, `--timeout=${seconds}`];
    try {
      const out = await runCommand(this.binary, args, { ctx });
      return out.stdout.includes(`event '${event}'`);
    } catch {
      return false;
    }
  }

  /** libvirt's state and reason for the domain, or undefined when the host does not know it. */
  async domainState(host: HostRef, name: string, ctx: DriverContext): Promise<{ state: string; reason: string } | undefined> {
    try {
      return parseDomState(await this.run(host, 'status', ['domstate', '--reason', `--domain=${name}`], ctx));
    } catch (err) {
      if (err instanceof DriverError && isDomainMissing(err.driverMessage)) return undefined;
      throw err;
    }
  }

  async define(host: HostRef, operation: string, xml: string, ctx: DriverContext): Promise<void> {
    // Without --validate: libvirt's parser says what is wrong ("Maximum CPUs greater than specified
    // machine type limit 255") where the schema check only says "Extra element vcpu in interleave".
    await withXmlFile(xml, (file) => this.run(host, operation, ['define', `--file=${file}`], ctx));
  }

  async undefine(host: HostRef, operation: string, name: string, ctx: DriverContext): Promise<void> {
    await this.run(host, operation, ['undefine', `--domain=${name}`, ...UNDEFINE_FLAGS], ctx);
  }
}

const UNDEFINE_FLAGS = ['--managed-save', '--nvram', '--snapshots-metadata', '--checkpoints-metadata'];

/** virsh reads XML from a file; the file lives only for the call. */
export async function withXmlFile<T>(xml: string, fn: (file: string) => Promise<T>): Promise<T> {
  const work = await mkdtemp(path.join(tmpdir(), 'vmflow-xml-'));
  try {
    const file = path.join(work, 'definition.xml');
    await writeFile(file, xml);
    return await fn(file);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function translate(err: unknown, host: HostRef, operation: string, ctx: DriverContext): Error {
  if (!(err instanceof CommandError)) return err instanceof Error ? err : new Error(String(err));
  switch (err.reason) {
    case 'aborted': {
      const reason: unknown = ctx.signal?.reason;
      return reason instanceof Error ? reason : new DriverError(DRIVER, operation, host.name, 'cancelled', false);
    }
    case 'timeout':
      return new HostUnreachableError(host.name, `virsh ${err.args[2] ?? ''} got no answer in time`);
    case 'spawn':
      return new DriverError(DRIVER, operation, host.name, `cannot run ${err.file}: ${err.stderr}`);
    default: {
      const message = libvirtMessage(err.stderr) || `virsh exited with ${err.exitCode}`;
      if (isUnreachable(err.stderr)) return new HostUnreachableError(host.name, message);
      return new DriverError(DRIVER, operation, host.name, message, !isTransient(err.stderr));
    }
  }
}
