// `npm run build`: the compiled build in dist/, what production runs. tsc emits the JavaScript of
// src/, workflows/ and activities/; beside it go the workflow bundle (workers load it instead of
// bundling at start) and the built dashboard (the API serves it). BUILD.json records what was
// built; bin/vmflow runs dist/ only while no source (src, workflows, activities, ui, package.json,
// the tsconfigs) is newer than it.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dashboardBundle, PREBUILT_DASHBOARD } from '../src/dashboard/bundle';
import { bundleWorkflows, PREBUILT_WORKFLOW_BUNDLE } from '../src/worker/bundle';

export const ROOT = path.resolve(__dirname, '..');
export const DIST = path.join(ROOT, 'dist');
/** Written last: a dist/ without it is not a complete build. */
export const BUILD_STAMP = 'BUILD.json';

export interface BuildInfo {
  readonly version: string;
  readonly builtAt: string;
  readonly node: string;
}

/** Builds dist/ afresh (into a temporary folder, then swapped in). Returns what it recorded. */
export async function buildDist(log: (line: string) => void = (l) => console.error(l)): Promise<BuildInfo> {
  const started = Date.now();
  const tmp = path.join(ROOT, `dist.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    log('build: compiling TypeScript (tsc -p tsconfig.build.json)');
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', tmp], { cwd: ROOT, stdio: 'inherit' });
    if (tsc.status !== 0) throw new Error(`tsc failed (exit ${tsc.status ?? tsc.signal})`);

    log('build: bundling the workflow code');
    writeFileSync(path.join(tmp, PREBUILT_WORKFLOW_BUNDLE), await bundleWorkflows(ROOT));

    log('build: building the dashboard');
    cpSync(await dashboardBundle(), path.join(tmp, PREBUILT_DASHBOARD), { recursive: true });

    // The compiled modules read the version from the package.json above them, here dist/'s own.
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; type: string };
    writeFileSync(path.join(tmp, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: pkg.type }, null, 2)}\n`);

    const info: BuildInfo = {
      version: pkg.version,
      builtAt: new Date().toISOString(),
      node: process.version,
    };
    writeFileSync(path.join(tmp, BUILD_STAMP), `${JSON.stringify(info, null, 2)}\n`);
    rmSync(DIST, { recursive: true, force: true });
    renameSync(tmp, DIST);
    log(`build: dist/ ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return info;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

if (require.main === module) {
  buildDist().then(
    () => process.exit(0),
    (err) => {
      console.error(`build: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
