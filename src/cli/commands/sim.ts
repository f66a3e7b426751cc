// `vmflow sim <sub>`: the sim farm's admin API, for playing with failures in dev — list hosts,
// crash, partition and rejoin them, set operation delays and failure rules.
import { Command, Option } from 'commander';
import { loadConfig } from '../../config';
import { InvalidInputError } from '../../domain/errors';
import { SimAdmin } from '../../sim/admin-client';
import { flag, printTable, withOutput, type OutputOptions, isStructured, printData } from '../output';

function admin(o: { url?: string }): SimAdmin {
  return new SimAdmin(o.url ?? loadConfig().simUrl);
}

/** Adds the admin subcommands to `vmflow sim` (which, without one, runs the farm). */
export function addSimAdmin(sim: Command): Command {
  const url = () => new Option('--url <url>', 'the farm (default VMFLOW_SIM_URL)');

  withOutput(sim.command('hosts').description('hosts of the farm: power, capacity, free, load, VMs').addOption(url())).action(async (o: OutputOptions & { url?: string }) => {
    const hosts = await admin(o).hosts();
    if (isStructured(o)) return printData(o, hosts);
    printTable(
      ['HOST', 'POWER', 'CPUS FREE', 'MEMORY MiB FREE', 'DISK GiB FREE', 'LOAD', 'VMS', 'DELAYS'],
      hosts.map((h) => [h.id, h.power, `${h.free.cpus}/${h.capacity.cpus}`, `${h.free.memoryMiB}/${h.capacity.memoryMiB}`, `${h.free.diskGiB}/${h.capacity.diskGiB}`, h.load, h.vmCount, Object.entries(h.delays).map(([k, v]) => `${k}=${v}`).join(',')]),
    );
  });

  for (const [action, what] of [
    ['crash', 'the host loses power: it stops answering; on rejoin its VMs are stopped'],
    ['partition', 'the host stops answering; its VMs keep running'],
    ['rejoin', 'the host answers again'],
  ] as const) {
    withOutput(sim.command(`${action} <host>`).description(what).addOption(url())).action(async (host: string, o: OutputOptions & { url?: string }) => {
      const view = await admin(o)[action](host);
      if (isStructured(o)) return printData(o, view);
      process.stdout.write(`${view.id}: ${view.power}\n`);
    });
  }

  withOutput(
    sim
      .command('delays [op=ms...]')
      .description('show or set operation delays in ms (op is define, start, migrate, ..., or * for any; op=null removes one)')
      .option('--host <host>', "one host's delays instead of the global ones")
      .addOption(url()),
  ).action(async (pairs: string[], o: OutputOptions & { host?: string; url?: string }) => {
    const a = admin(o);
    let delays;
    if (pairs.length) {
      const set: Record<string, number | null> = {};
      for (const p of pairs) {
        const [op, raw] = p.split('=');
        const ms = raw === 'null' ? null : Number(raw);
        if (!op || (ms !== null && (!Number.isFinite(ms) || ms < 0))) throw new InvalidInputError([{ field: p, problem: 'must be op=ms (a number >= 0) or op=null' }], 'delays');
        set[op] = ms;
      }
      delays = await a.setDelays(set, o.host);
    } else delays = await a.delays(o.host);
    if (isStructured(o)) return printData(o, delays);
    printTable(['OPERATION', 'DELAY MS'], Object.entries(delays));
  });

  const failures = sim.command('failures').description('failure rules: matching driver calls fail');
  withOutput(failures.command('list').description('list the rules').addOption(url())).action(async (o: OutputOptions & { url?: string }) => {
    const rules = await admin(o).failures();
    if (isStructured(o)) return printData(o, rules);
    printTable(
      ['ID', 'OPERATION', 'HOST', 'VM', 'KIND', 'PROBABILITY', 'TIMES', 'FIRED', 'MESSAGE'],
      rules.map((r) => [r.id, r.operation ?? '*', r.host ?? '*', r.vm ?? '*', `${r.kind ?? 'error'}${r.transient ? ' (transient)' : ''}`, r.probability ?? 1, r.times ?? '∞', r.fired, r.message]),
    );
  });
  withOutput(
    failures
      .command('add')
      .description('add a rule')
      .option('--operation <op>', 'define, start, migrate, ... (default any)')
      .option('--host <host>', 'only on this host')
      .option('--vm <name>', 'only about this VM')
      .option('--probability <p>', 'chance a matching call fails, 0..1', flag.positive('--probability'))
      .option('--seed <n>', 'seed of the draw', flag.integer('--seed'))
      .option('--times <n>', 'fail only this many calls', flag.integer('--times', 1))
      .option('--message <text>', 'the error message')
      .addOption(new Option('--kind <kind>', 'error: the host answers with an error; unreachable: no answer').choices(['error', 'unreachable']))
      .option('--transient', 'an error the caller may retry')
      .addOption(url()),
  ).action(async (o: OutputOptions & { url?: string; operation?: string; host?: string; vm?: string; probability?: number; seed?: number; times?: number; message?: string; kind?: 'error' | 'unreachable'; transient?: boolean }) => {
    const { output, url: _url, ...rule } = o;
    void _url;
    const created = await admin(o).addFailure(rule);
    if (isStructured({ output })) return printData({ output }, created);
    process.stdout.write(`failure rule ${created.id} added\n`);
  });
  failures
    .command('remove <id>')
    .description('remove a rule')
    .addOption(url())
    .action(async (id: string, o: { url?: string }) => {
      await admin(o).removeFailure(id);
      process.stdout.write(`failure rule ${id} removed\n`);
    });
  failures
    .command('clear')
    .description('remove every rule')
    .addOption(url())
    .action(async (o: { url?: string }) => {
      await admin(o).clearFailures();
      process.stdout.write('failure rules cleared\n');
    });
  return sim;
}
