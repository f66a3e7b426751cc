// Shared bits of the libvirt driver tests: container specs and independent checks through virsh
// and qemu-img (never through the driver under test).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { ContainerSpec } from '../../src/drivers/driver';
import type { ContainerDefinition } from '../../src/domain/types';
import { virsh } from '../support/libvirt';

let seq = 0;

/** A tiny container: 1 vcpu, 64 MiB, 1 GiB disk over the test base image (no OS). */
export function tinySpec(name: string, overrides: Partial<ContainerDefinition> = {}): ContainerSpec {
  seq++;
  const hex = (seq % 256).toString(16).padStart(2, '0');
  return {
    id: randomUUID(),
    name,
    definition: {
      kind: 'generic',
      cpus: 1,
      memoryMiB: 64,
      diskGiB: 1,
      network: { ip: `10.0.0.${seq % 250}`, mac: `02:00:0a:00:01:${hex}` },
      image: 'base.qcow2',
      ...overrides,
    },
  };
}

/** `virsh domstate` without the reason, or undefined when the domain does not exist. */
export async function domstate(uri: string, name: string): Promise<string | undefined> {
  const r = await virsh(uri, 'domstate', `--domain=${name}`);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** `virsh dominfo` as a map of its labels. */
export async function dominfo(uri: string, name: string): Promise<Map<string, string>> {
  const r = await virsh(uri, 'dominfo', `--domain=${name}`);
  if (r.code !== 0) throw new Error(`dominfo ${name}: ${r.stderr}`);
  const m = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

export async function dumpxml(uri: string, name: string, inactive = false): Promise<string> {
  const r = await virsh(uri, 'dumpxml', ...(inactive ? ['--inactive'] : []), `--domain=${name}`);
  if (r.code !== 0) throw new Error(`dumpxml ${name}: ${r.stderr}`);
  return r.stdout;
}

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout, stderr }),
    );
  });
}

/** `qemu-img info` as JSON. */
export async function imageInfo(file: string): Promise<{ format: string; 'virtual-size': number; 'backing-filename'?: string }> {
  const r = await run('qemu-img', ['info', '--output=json', '-U', file]);
  if (r.code !== 0) throw new Error(`qemu-img info ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Writes a byte pattern at offset 0 of a stopped domain's disk. */
export async function writePattern(file: string, byte: number): Promise<void> {
  const r = await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${byte} 0 64k`, file]);
  if (r.code !== 0) throw new Error(`qemu-io write ${file}: ${r.stderr}`);
}

/** Whether the disk holds the pattern at offset 0 (read without taking QEMU's lock). */
export async function hasPattern(file: string, byte: number): Promise<boolean> {
  const r = await run('qemu-io', ['-f', 'qcow2', '-U', '-r', '-c', `read -P ${byte} 0 64k`, file]);
  return r.code === 0 && !/Pattern verification failed/.test(r.stdout + r.stderr);
}

/** Collects `reboot` events of a domain until stopped. Resolves once virsh is listening. */
export async function watchReboots(uri: string, name: string, seconds: number): Promise<() => Promise<number>> {
  const { spawn } = await import('node:child_process');
  const child = spawn('virsh', ['-c', uri, 'event', `--domain=${name}`, '--event=reboot', '--loop', `--timeout=${seconds}`], {
    env: { ...process.env, LC_ALL: 'C' },
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise((r) => setTimeout(r, 300));
  return async () => {
    child.kill('SIGINT');
    await done;
    return (out.match(/event 'reboot'/g) ?? []).length;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
