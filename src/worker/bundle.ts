// Bundles the workflow code once per content: the bundle is cached under the data folder, keyed
// by a hash of everything the workflows can import, so workers and tests start fast.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const ROOT = path.resolve(__dirname, '..', '..');
const WORKFLOW_SOURCES = ['workflows', 'src/domain'];

function files(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? files(p) : [p];
    })
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

export async function workflowBundle(cacheDir = path.join(ROOT, '.vmflow', 'bundles')): Promise<{ codePath: string }> {
  const hash = createHash('sha256');
  for (const f of WORKFLOW_SOURCES.flatMap((d) => files(path.join(ROOT, d)))) hash.update(f).update(readFileSync(f));
  hash.update(JSON.stringify(require('@temporalio/worker/package.json').version));
  const codePath = path.join(cacheDir, `workflows-${hash.digest('hex').slice(0, 16)}.js`);
  if (!existsSync(codePath)) {
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(ROOT, 'workflows', 'index.ts'),
      workflowInterceptorModules: [path.join(ROOT, 'workflows', 'interceptors.ts')],
      logger: quietLogger,
    });
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${codePath}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, codePath);
  }
  return { codePath };
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};
