// How the libvirt driver fails: refusals keep libvirt's message in a DriverError, a daemon that
// does not answer (or dies mid-command) is a transient HostUnreachableError, cancellation stops
// the call.
import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DriverError, HostUnreachableError } from '../../src/domain/errors';
import type { HostRef } from '../../src/drivers/driver';
import { LibvirtDriver } from '../../src/drivers/libvirt';
import { skipMessage, startLibvirt, virsh, type LibvirtTestHost } from '../support/libvirt';
import { domstate, tinySpec } from './checks';

const driver = new LibvirtDriver({ pollMs: 100 });
let host: LibvirtTestHost | undefined;

before(async () => {
  host = await startLibvirt({ name: 'lv-fail' });
  if (!host) console.log(skipMessage());
});
after(async () => {
  await host?.stop();
});

function refusal(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof DriverError, `expected a DriverError, got ${String(e)}`);
    assert.match(e.driverMessage, pattern);
    assert.equal(e.code, 'DRIVER_ERROR');
    return true;
  };
}

describe('libvirt driver: refusals', () => {
  it('rejects domain XML libvirt refuses, with libvirt’s reason, and defines nothing', async (t) => {
    if (!host) return t.skip(skipMessage());
    await assert.rejects(
      driver.define(host.ref, tinySpec('bad-cpus', { cpus: 100_000 })),
      refusal(/Maximum CPUs greater than specified machine type limit/),
    );
    await assert.rejects(
      driver.define(host.ref, tinySpec('bad-mem', { memoryMiB: 2 ** 44 })),
      refusal(/numerical overflow: value too large/),
    );
    await assert.rejects(
      driver.define(host.ref, tinySpec('bad-mac', { network: { ip: '10.0.0.9', mac: 'ff:ff:ff:ff:ff:ff' } })),
      refusal(/expected unicast mac address/),
    );
    for (const n of ['bad-cpus', 'bad-mem', 'bad-mac']) assert.equal(await domstate(host.uri, n), undefined);
  });

  it('fails to start a domain that wants more memory than the host has (QEMU cannot allocate it)', async (t) => {
    if (!host) return t.skip(skipMessage());
    const memoryMiB = Math.ceil((totalmem() * 8) / 1024 / 1024);
    const spec = tinySpec('too-big', { memoryMiB });
    await driver.define(host.ref, spec); // libvirt does not check memory at define time
    await driver.provision(host.ref, spec);
    await assert.rejects(driver.start(host.ref, 'too-big'), refusal(/Cannot allocate memory/));
    assert.equal(await domstate(host.uri, 'too-big'), 'shut off');
    assert.equal((await driver.containerStatus(host.ref, 'too-big'))?.state, 'stopped');
  });

  it('refuses to start a running domain and to resume one that is not paused', async (t) => {
    if (!host) return t.skip(skipMessage());
    const spec = tinySpec('twice');
    await driver.define(host.ref, spec);
    await driver.provision(host.ref, spec);
    await driver.start(host.ref, 'twice');
    await assert.rejects(driver.start(host.ref, 'twice'), refusal(/already active/));
    await assert.rejects(driver.resume(host.ref, 'twice'), refusal(/domain is already running/));
    await driver.stop(host.ref, 'twice');
    await assert.rejects(driver.stop(host.ref, 'twice'), refusal(/not running/));
  });

  it('answers undefined for an unknown domain and refuses commands on it', async (t) => {
    if (!host) return t.skip(skipMessage());
    assert.equal(await driver.containerStatus(host.ref, 'nobody'), undefined);
    await assert.rejects(driver.start(host.ref, 'nobody'), refusal(/failed to get domain 'nobody'/));
    await assert.rejects(driver.deprovision(host.ref, 'nobody'), refusal(/not found|failed to get vol/));
  });

  it('refuses a host definition without a storage path', async (t) => {
    if (!host) return t.skip(skipMessage());
    const bare: HostRef = { ...host.ref, definition: { ...host.ref.definition, options: {} } };
    await assert.rejects(driver.hostStatus(bare), refusal(/storagePath/));
  });
});

describe('libvirt driver: unreachable hosts', () => {
  it('reports a daemon that is not there as unreachable, and transient', async (t) => {
    if (!host) return t.skip(skipMessage());
    const gone: HostRef = {
      ...host.ref,
      name: 'lv-gone',
      definition: { ...host.ref.definition, address: `qemu+unix:///system?socket=${path.join(host.root, 'no-such-sock')}` },
    };
    for (const call of [() => driver.hostStatus(gone), () => driver.start(gone, 'x'), () => driver.containerStatus(gone, 'x')]) {
      await assert.rejects(call(), (e: unknown) => {
        assert.ok(e instanceof HostUnreachableError, `expected HostUnreachableError, got ${String(e)}`);
        assert.equal(e.permanent, false);
        assert.equal(e.host, 'lv-gone');
        assert.match(e.reason ?? '', /Failed to connect socket/);
        return true;
      });
    }
  });

  it('cancels a shutdown that waits for the guest when the signal aborts', async (t) => {
    if (!host) return t.skip(skipMessage());
    const spec = tinySpec('cancel-1');
    await driver.define(host.ref, spec);
    await driver.provision(host.ref, spec);
    await driver.start(host.ref, 'cancel-1');
    const abort = new AbortController();
    const began = Date.now();
    setTimeout(() => abort.abort(new Error('operator cancelled')), 400);
    await assert.rejects(driver.shutdown(host.ref, 'cancel-1', 30_000, { progress: () => undefined, signal: abort.signal }), /operator cancelled/);
    assert.ok(Date.now() - began < 5000);
    assert.equal(await domstate(host.uri, 'cancel-1'), 'running', 'no hard stop after a cancel');
    await driver.stop(host.ref, 'cancel-1');
  });

  it('turns a daemon that stops mid-command into HostUnreachableError', async (t) => {
    if (!host) return t.skip(skipMessage());
    const doomed = await startLibvirt({ name: 'lv-doomed' });
    assert.ok(doomed);
    try {
      const spec = tinySpec('doomed-1');
      await driver.define(doomed.ref, spec);
      await driver.provision(doomed.ref, spec);
      await driver.start(doomed.ref, 'doomed-1');
      const began = Date.now();
      // The guest never answers ACPI, so shutdown polls libvirt for 30 s unless the daemon goes away.
      const pending = driver.shutdown(doomed.ref, 'doomed-1', 30_000);
      setTimeout(() => void doomed.stop(), 700);
      await assert.rejects(pending, (e: unknown) => {
        assert.ok(e instanceof HostUnreachableError, `expected HostUnreachableError, got ${String(e)}`);
        assert.equal(e.host, 'lv-doomed');
        t.diagnostic(`libvirt said: ${e.reason}`);
        return true;
      });
      assert.ok(Date.now() - began < 10_000, 'noticed at once, not after the shutdown timeout');
      assert.equal(doomed.alive(), false);
      const r = await virsh(doomed.uri, 'list');
      assert.notEqual(r.code, 0);
    } finally {
      await doomed.stop();
    }
  });
});
