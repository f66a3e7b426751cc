// The workflow code as one bundle. Run from TypeScript (tsx), it is bundled once per content and
// cached under the data folder, keyed by a hash of everything the workflows can import, so
// workers and tests start fast. Run from the compiled build (dist/), it is the bundle
// `npm run build` wrote beside the JavaScript: a production worker never bundles at start.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/** The checkout (under tsx) or the dist/ folder (compiled). */
const ROOT = path.resolve(__dirname, '..', '..');
const WORKFLOW_SOURCES = ['workflows', 'src/domain'];

/** True when this module runs as compiled JavaScript from dist/. */
export const COMPILED = __filename.endsWith('.js');

/** Where `npm run build` puts the workflow bundle, relative to dist/. */
export const PREBUILT_WORKFLOW_BUNDLE = 'workflow-bundle.js';

function files(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? files(p) : [p];
    })
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

/** Bundles the workflow code from its TypeScript sources (needs the checkout and webpack). */
export async function bundleWorkflows(root = ROOT): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(root, 'workflows', 'index.ts'),
    workflowInterceptorModules: [path.join(root, 'workflows', 'interceptors.ts')],
    logger: quietLogger,
  });
  return code;
}

export async function workflowBundle(cacheDir = path.join(ROOT, '.vmflow', 'bundles')): Promise<{ codePath: string }> {
  if (COMPILED) {
    const codePath = path.join(ROOT, PREBUILT_WORKFLOW_BUNDLE);
    if (!existsSync(codePath)) throw new Error(`${codePath} is missing: this build is incomplete, run \`npm run build\` again`);
    return { codePath };
  }
  const hash = createHash('sha256');
  for (const f of WORKFLOW_SOURCES.flatMap((d) => files(path.join(ROOT, d)))) hash.update(f).update(readFileSync(f));
  hash.update(JSON.stringify(require('@temporalio/worker/package.json').version));
  const codePath = path.join(cacheDir, `workflows-${hash.digest('hex').slice(0, 16)}.js`);
  if (!existsSync(codePath)) {
    const code = await bundleWorkflows();
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
