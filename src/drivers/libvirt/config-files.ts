// A container's configuration files. There is no guest OS to write into, so the driver keeps them
// in `<storagePath>/<name>.config/<path>`, standing in for a guest agent. The folder is on the
// machine the driver runs on: for a remote URI, run the driver in that host's agent.
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { posix as path } from 'node:path';
import { DriverError } from '../../domain/errors';
import type { DriverContext, HostRef } from '../driver';
import { assertSafeName, DRIVER, hostSettings, type LibvirtHostSettings } from './settings';
import type { Virsh } from './virsh';

/** A config path inside the container: relative, normalised, never leaving its folder. */
function configRelPath(host: HostRef, file: string): string {
  const norm = path.normalize(file.replace(/^\/+/, ''));
  if (!file || norm === '.' || norm.startsWith('..') || norm.split('/').includes('..')) {
    throw new DriverError(DRIVER, 'config', host.name, `config path ${JSON.stringify(file)} leaves the container's folder`);
  }
  return norm;
}

function configDir(s: LibvirtHostSettings, name: string): string {
  return path.join(s.storagePath, `${name}.config`);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export class ConfigFiles {
  constructor(private readonly virsh: Virsh) {}

  /** Writes the file atomically (a reader never sees half of it); the domain must exist. */
  async apply(host: HostRef, name: string, file: string, content: string, ctx: DriverContext): Promise<void> {
    const s = hostSettings(host);
    assertSafeName(host, 'applyConfig', name);
    const rel = configRelPath(host, file);
    if (!(await this.virsh.domainState(host, name, ctx))) {
      throw new DriverError(DRIVER, 'applyConfig', host.name, `domain ${name} is not defined`);
    }
    const dest = path.join(configDir(s, name), rel);
    await mkdir(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.tmp`;
    await writeFile(tmp, content);
    await rename(tmp, dest);
  }

  async read(host: HostRef, name: string, file: string): Promise<string | undefined> {
    const s = hostSettings(host);
    assertSafeName(host, 'readConfig', name);
    try {
      return await readFile(path.join(configDir(s, name), configRelPath(host, file)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Every file in the container's config folder, as absolute paths inside the container, sorted. */
  async list(host: HostRef, name: string): Promise<string[]> {
    assertSafeName(host, 'listConfig', name);
    const dir = configDir(hostSettings(host), name);
    let entries;
    try {
      entries = await readdir(dir, { recursive: true, withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return entries
      .filter((e) => e.isFile() && !e.name.endsWith('.tmp'))
      .map((e) => `/${path.relative(dir, path.join(e.parentPath, e.name))}`)
      .sort();
  }

  async remove(host: HostRef, name: string): Promise<void> {
    await rm(configDir(hostSettings(host), name), { recursive: true, force: true });
  }

  /** Copies (or moves) the container's config folder to another host's storage, under `toName`. */
  async copy(from: HostRef, fromName: string, to: HostRef, toName: string, move: boolean): Promise<void> {
    const src = configDir(hostSettings(from), fromName);
    const dest = configDir(hostSettings(to), toName);
    if (src === dest || !(await exists(src))) return;
    await cp(src, dest, { recursive: true, force: true });
    if (move) await rm(src, { recursive: true, force: true });
  }
}
