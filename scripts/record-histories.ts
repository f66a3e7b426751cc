// Records the histories of a few representative commands into test/histories/, for the replay
// test. Run it after a deliberate, versioned change to workflow code:
//   npx tsx scripts/record-histories.ts
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { temporalCli } from '../src/temporal/binaries';
import { startStack } from '../test/support/stack';

const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

async function main(): Promise<void> {
  const stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }] });
  try {
    const c = stack.client;
    const handles = [
      await c.containers.create('r1', { definition: web, hint: 'hv-1' }),
    ];
    await handles[0]!.result();
    for (const next of [() => c.containers.stop('r1'), () => c.containers.migrate('r1', { target: 'hv-2' }), () => c.containers.clone('r1', { name: 'r2' })]) {
      const h = await next();
      await h.result();
      handles.push(h);
    }
    await (await c.environments.create('renv')).result();
    await (await c.environments.add('renv', { create: { name: 'rw1', definition: web } })).result();
    const add = await c.environments.add('renv', { create: { name: 'rw2', definition: web } });
    await add.result();
    handles.push(add as never);
    const destroy = await c.containers.destroy('r2');
    await destroy.result();
    handles.push(destroy);
    for (const h of handles) {
      // The CLI's JSON export is the format historyFromJSON reads back.
      const history = execFileSync(temporalCli(), ['workflow', 'show', '--workflow-id', h.workflowId, '--address', stack.temporal.address, '--output', 'json']);
      const file = path.join(__dirname, '..', 'test', 'histories', `${h.workflowId.split('/').slice(0, 3).join('-')}.json`);
      writeFileSync(file, history);
      console.log(`recorded ${path.relative(process.cwd(), file)}`);
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
