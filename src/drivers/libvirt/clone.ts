// Clone: a stopped domain's disk copied (as a standalone qcow2) to a new domain, on the same host
// or another.
import { DriverError } from '../../domain/errors';
import type { ContainerSpec, DriverContext, HostRef } from '../driver';
import type { ConfigFiles } from './config-files';
import { parseDomainXml } from './domain-xml';
import { domainXmlFor } from './lifecycle';
import { assertSafeName, DRIVER, volumeName } from './settings';
import { bestEffort } from './steps';
import type { Storage } from './storage';
import type { Virsh } from './virsh';

export class Cloning {
  constructor(
    private readonly virsh: Virsh,
    private readonly storage: Storage,
    private readonly configFiles: ConfigFiles,
  ) {}

  async clone(source: HostRef, sourceName: string, target: HostRef, spec: ContainerSpec, ctx: DriverContext): Promise<void> {
    assertSafeName(target, 'clone', spec.name);
    const st = await this.virsh.domainState(source, sourceName, ctx);
    if (!st) throw new DriverError(DRIVER, 'clone', source.name, `domain ${sourceName} is not defined`);
    if (st.state !== 'shut off') {
      throw new DriverError(DRIVER, 'clone', source.name, `domain ${sourceName} is ${st.state}: a clone needs it stopped`);
    }
    if (await this.virsh.domainState(target, spec.name, ctx)) {
      throw new DriverError(DRIVER, 'clone', target.name, `a domain named ${spec.name} already exists`);
    }
    const srcXml = await this.virsh.run(source, 'clone', ['dumpxml', '--inactive', `--domain=${sourceName}`], ctx);
    const disk = await this.storage.diskFacts(source, parseDomainXml(srcXml).diskPath, ctx);
    const targetPool = await this.storage.containerPool(target, ctx);
    const newVol = volumeName(spec.name);
    if (disk.provisioned && disk.path) {
      await this.storage.copyVolume(source, disk, target, targetPool, newVol, 'clone', ctx);
    }
    try {
      ctx.progress({ step: 'defining the clone' });
      await this.virsh.define(target, 'clone', domainXmlFor(target, spec), ctx);
    } catch (err) {
      if (disk.provisioned) await bestEffort(() => this.storage.removeVolume(target, 'clone', targetPool, newVol, ctx, false));
      throw err;
    }
    await this.configFiles.copy(source, sourceName, target, spec.name, false);
  }
}
