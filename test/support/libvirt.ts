// Real libvirt daemons for driver tests. Installs nothing: when the binaries are missing the tests
// skip (or, with CI=true, fail).
//
// Each test host is its own libvirtd + virtlogd pair in private mount and PID namespaces
// (`unshare`): /run, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and /etc/libvirt are
// replaced by folders under a temp dir, so two or more daemons run side by side without touching a
// system daemon or each other, each with its own host UUID (live migration between them is then
// allowed). The socket lives in the temp dir and is reached as
// `qemu+unix:///system?socket=<tmp>/sock/libvirt-sock`. Stopping a host kills the namespace's
// init, and with it the daemons and every QEMU they started.
//
// Why not `qemu:///embed?root=`: each virsh call would be its own embedded driver, two concurrent
// calls fail with "Failed to acquire pid file", and migration between two embedded drivers in one
// client is not possible.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HostRef } from '../../src/drivers/driver';

export interface LibvirtTestHost {
  readonly name: string;
  /** libvirt connection URI of the daemon. */
  readonly uri: string;
  /** Folder for container disks (the driver's options.storagePath). */
  readonly storagePath: string;
  /** Folder of base images (options.imagePath); holds `base.qcow2`, a 64 MiB qcow2 without an OS. */
  readonly imagePath: string;
  readonly baseImage: string;
  readonly root: string;
  /** A HostRef the driver accepts. */
  readonly ref: HostRef;
  /** Kills the daemons and their QEMU processes and removes the temp dir. */
  stop(): Promise<void>;
  /** Whether the daemon is still running. */
  alive(): boolean;
  /** The host's process as the machine sees it: killing it powers the whole host off (daemons and guests). */
  readonly pid: number;
}

const TOOLS = ['virsh', 'libvirtd', 'virtlogd', 'qemu-img', 'qemu-system-x86_64', 'unshare'] as const;
const EXTRA_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function which(tool: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...EXTRA_PATH];
  for (const dir of dirs) {
    const file = path.join(dir, tool);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Why real libvirt hosts cannot run here, or undefined when they can. */
export function libvirtUnavailable(): string | undefined {
  const missing = TOOLS.filter((t) => !which(t));
  if (missing.length) return `missing ${missing.join(', ')} (apt-get install libvirt-daemon-system qemu-system-x86 qemu-utils)`;
  if (process.getuid?.() !== 0) return 'the libvirt test hosts need root (private mount namespaces, a system-mode libvirtd)';
  for (const dir of ['/var/lib/libvirt', '/var/log/libvirt', '/var/cache/libvirt', '/etc/libvirt']) {
    if (!existsSync(dir)) return `${dir} is missing (libvirt-daemon-system is not fully installed)`;
  }
  return undefined;
}

/** Throws under CI=true (a run without libvirt must fail there), else returns the reason to skip. */
function unavailableOrThrow(): string | undefined {
  const reason = libvirtUnavailable();
  if (reason && process.env.CI === 'true') throw new Error(`libvirt tests cannot run: ${reason}`);
  return reason;
}

// Runs as PID 1 of the new namespaces: private /run and libvirt folders, then the two daemons.
const HOST_SCRIPT = `
set -e
root="$1"; virtlogd="$2"; libvirtd="$3"
mount -t tmpfs -o mode=0755 vmflow-run /run
mkdir -p /run/libvirt /run/lock
for pair in lib:/var/lib/libvirt log:/var/log/libvirt cache:/var/cache/libvirt etc:/etc/libvirt; do
  mount --bind "$root/\${pair%%:*}" "\${pair#*:}"
done
"$virtlogd" --daemon --config "$root/virtlogd.conf"
exec 3<&0
"$libvirtd" --config "$root/libvirtd.conf" --pid-file "$root/libvirtd.pid" &
lpid=$!
# stdin is a pipe from the test process: at EOF (it exited or was killed) the host goes down too.
{ cat <&3 >/dev/null; kill "$lpid"; } &
wait "$lpid"
`;

const QEMU_CONF = `# Test host: QEMU runs as root on files in a temp dir, without cgroups or a security driver.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
`;

const live = new Set<ChildProcess>();
let exitHook = false;

function confString(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Runs virsh against a URI without the driver: tests check state with it independently. */
export function virsh(uri: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(which('virsh') ?? 'virsh', ['-c', uri, ...args], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Creates a qcow2 image without an OS: enough for QEMU to boot into its BIOS and sit there. */
export function createBaseImage(file: string, sizeMiB = 64): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(which('qemu-img') ?? 'qemu-img', ['create', '-q', '-f', 'qcow2', file, `${sizeMiB}M`], (err, _o, stderr) =>
      err ? reject(new Error(`qemu-img create failed: ${stderr || err.message}`)) : resolve(),
    );
  });
}

export interface StartOptions {
  readonly name?: string;
  /** Use this storage folder instead of one in the host's temp dir (to share it between hosts). */
  readonly storagePath?: string;
  readonly startTimeoutMs?: number;
}

/**
 * Starts one libvirt host, or returns undefined (tests skip) when libvirt is not installed.
 * Under CI=true a missing libvirt throws instead.
 */
export async function startLibvirt(options: StartOptions = {}): Promise<LibvirtTestHost | undefined> {
  if (unavailableOrThrow()) return undefined;
  const name = options.name ?? 'lv-1';
  const root = await mkdtemp(path.join(tmpdir(), 'vmflow-lv-'));
  for (const dir of ['lib', 'log', 'cache', 'etc', 'sock', 'storage', 'images']) await mkdir(path.join(root, dir));
  const storagePath = options.storagePath ?? path.join(root, 'storage');
  const imagePath = path.join(root, 'images');
  const baseImage = path.join(imagePath, 'base.qcow2');
  await writeFile(path.join(root, 'etc', 'qemu.conf'), QEMU_CONF);
  await writeFile(
    path.join(root, 'libvirtd.conf'),
    [
      `unix_sock_dir = ${confString(path.join(root, 'sock'))}`,
      'unix_sock_rw_perms = "0700"',
      'auth_unix_rw = "none"',
      'auth_unix_ro = "none"',
      // Distinct host UUIDs: libvirt refuses to migrate between daemons that claim the same host.
      `host_uuid = ${confString(randomUUID())}`,
      `log_outputs = ${confString(`3:file:${path.join(root, 'libvirtd.log')}`)}`,
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(root, 'virtlogd.conf'),
    `log_outputs = ${confString(`3:file:${path.join(root, 'virtlogd.log')}`)}\n`,
  );
  await createBaseImage(baseImage);

  const out = openSync(path.join(root, 'host.log'), 'a');
  const child = spawn(
    which('unshare')!,
    ['--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', HOST_SCRIPT, 'vmflow-lv', root, which('virtlogd')!, which('libvirtd')!],
    { stdio: ['pipe', out, out] },
  );
  closeSync(out);
  // Neither the child nor its stdin pipe keeps the test process alive; when it exits the pipe
  // closes and the host shuts itself down.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  live.add(child);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  let exited = false;
  const exitedP = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      resolve();
    }),
  );

  const uri = `qemu+unix:///system?socket=${path.join(root, 'sock', 'libvirt-sock')}`;
  const stop = async () => {
    if (!exited) {
      child.ref(); // keep the process alive until the host is really gone
      child.kill('SIGTERM'); // unshare dies; --kill-child SIGKILLs the namespace's init, and so everything in it
      await Promise.race([exitedP, new Promise((r) => setTimeout(r, 5000))]);
      if (!exited) child.kill('SIGKILL');
      await exitedP;
    }
    await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      const log = readLog(root);
      await stop();
      throw new Error(`libvirtd for ${name} exited at start:\n${log}`);
    }
    const r = await virsh(uri, 'uri');
    if (r.code === 0) break;
    if (Date.now() > deadline) {
      const log = readLog(root);
      await stop();
      throw new Error(`libvirtd for ${name} did not answer within the start timeout:\n${r.stderr}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Probe QEMU's capabilities now (a few seconds under TCG) rather than inside the first test.
  await virsh(uri, 'domcapabilities', '--virttype', 'qemu');

  const ref: HostRef = {
    id: randomUUID(),
    name,
    definition: {
      driver: 'libvirt',
      address: uri,
      capacity: { cpus: 2, memoryMiB: 4096, diskGiB: 20 },
      options: { storagePath, imagePath },
    },
  };
  return { name, uri, storagePath, imagePath, baseImage, root, ref, stop, alive: () => !exited, pid: child.pid! };
}

/** Two independent hosts for clone and migration tests (each with its own storage folder). */
export async function startLibvirtPair(): Promise<[LibvirtTestHost, LibvirtTestHost] | undefined> {
  const [a, b] = await Promise.allSettled([startLibvirt({ name: 'lv-a' }), startLibvirt({ name: 'lv-b' })]);
  if (a.status === 'rejected' || b.status === 'rejected') {
    if (a.status === 'fulfilled') await a.value?.stop();
    if (b.status === 'fulfilled') await b.value?.stop();
    throw a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason;
  }
  if (!a.value || !b.value) return undefined;
  return [a.value, b.value];
}

function readLog(root: string): string {
  const parts: string[] = [];
  for (const f of ['host.log', 'libvirtd.log']) {
    try {
      parts.push(`--- ${f}\n${readFileSync(path.join(root, f), 'utf8').slice(-4000)}`);
    } catch {
      // not written
    }
  }
  return parts.join('\n');
}

/** The message tests print when they skip. */
export function skipMessage(): string {
  return `libvirt tests skipped: ${libvirtUnavailable() ?? 'unknown reason'}`;
}
