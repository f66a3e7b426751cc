// Fencing through a fence agent: a program that powers a host off out of band (its BMC over IPMI,
// a switched PDU, a cloud API), as Pacemaker's and oVirt's fence agents do. A host's definition
// names the agent (`fence_ipmilan`) and its arguments; the agent must be installed in the worker's
// fence agent folder (VMFLOW_FENCE_AGENT_DIR), so registering a host can never run an arbitrary
// program. Exit status 0 means the host is off.
import path from 'node:path';
import execa from 'execa';
import { DriverError } from '../domain/errors';
import type { FenceDevice } from '../domain/types';

/** Where Debian's fence-agents package installs them. */
export const DEFAULT_FENCE_AGENT_DIR = '/usr/sbin';
export const FENCE_AGENT_PATTERN = '^fence_[A-Za-z0-9_-]+$';
const DEFAULT_TIMEOUT_SECONDS = 60;

export class FenceAgents {
  constructor(readonly dir: string) {}

  /** Runs the host's fence agent; throws a retryable DriverError unless it exits 0. */
  async fence(host: { name: string; address: string }, device: FenceDevice): Promise<void> {
    if (!new RegExp(FENCE_AGENT_PATTERN).test(device.agent)) {
      throw new DriverError('fence', 'fence', host.name, `fence agent "${device.agent}" is not a fence agent name (fence_...)`);
    }
    const program = path.join(this.dir, device.agent);
    const result = await execa(program, [...(device.args ?? [])], {
      reject: false,
      timeout: (device.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
      env: { VMFLOW_FENCE_HOST: host.name, VMFLOW_FENCE_ADDRESS: host.address },
      stdin: 'ignore',
    });
    if (result.exitCode === 0) return;
    const why = result.timedOut
      ? `${device.agent} did not finish within ${device.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS} s`
      : (result as { code?: string }).code === 'ENOENT'
        ? `fence agent ${program} is not installed on this worker (VMFLOW_FENCE_AGENT_DIR)`
        : `${device.agent} exited with ${result.exitCode}: ${(result.stderr || result.stdout).trim().slice(0, 300)}`;
    throw new DriverError('fence', 'fence', host.name, why, false);
  }
}
