// Builds the dashboard (ui/, Preact in TSX) into one script and one stylesheet with esbuild. The
// output is cached under the data folder, keyed by a hash of the sources, so `npm start` and
// `npm test` build it once per change and in well under a second. The compiled build (dist/)
// serves the copy `npm run build` made and never builds.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The checkout (under tsx) or the dist/ folder (compiled). */
const ROOT = path.resolve(__dirname, '..', '..');
/** Where `npm run build` puts the built dashboard, relative to dist/. */
export const PREBUILT_DASHBOARD = 'dashboard';
export const DASHBOARD_SOURCES = path.join(ROOT, 'ui');
/** The files a built dashboard holds; the API serves these and nothing else. */
export const DASHBOARD_FILES = ['index.html', 'app.js', 'app.css'] as const;

function files(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? files(p) : [p];
    })
    .sort();
}

/** Where the API finds the built dashboard, or why there is none. */
export type DashboardSource = { readonly dir: string } | { readonly unavailable: string };

/** The dashboard for the API: built now when needed; a failed build is reported, not thrown. */
export async function dashboardSource(): Promise<DashboardSource> {
  if (__filename.endsWith('.js')) {
    const dir = path.join(ROOT, PREBUILT_DASHBOARD);
    return existsSync(path.join(dir, 'index.html')) ? { dir } : { unavailable: `this build has no ${dir}: run \`npm run build\` again` };
  }
  try {
    return { dir: await dashboardBundle() };
  } catch (err) {
    return { unavailable: `it could not be built from ui/: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** Builds the dashboard when its sources changed; returns the folder that holds DASHBOARD_FILES. */
export async function dashboardBundle(cacheDir = path.join(ROOT, '.vmflow', 'ui')): Promise<string> {
  const esbuild = await import('esbuild');
  const hash = createHash('sha256');
  for (const f of files(DASHBOARD_SOURCES)) hash.update(path.relative(DASHBOARD_SOURCES, f)).update(readFileSync(f));
  hash.update(esbuild.version);
  const version = hash.digest('hex').slice(0, 16);
  const out = path.join(cacheDir, version);
  if (existsSync(path.join(out, 'index.html'))) return out;

  const tmp = `${out}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: { app: path.join(DASHBOARD_SOURCES, 'src', 'main.tsx') },
    outdir: tmp,
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    // A checkout may keep the front-end packages outside node_modules (NODE_PATH).
    nodePaths: (process.env.NODE_PATH ?? '').split(path.delimiter).filter(Boolean),
    logLevel: 'silent',
  });
  const html = readFileSync(path.join(DASHBOARD_SOURCES, 'index.html'), 'utf8').replaceAll('%VERSION%', version);
  writeFileSync(path.join(tmp, 'index.html'), html);
  for (const f of DASHBOARD_FILES) if (!existsSync(path.join(tmp, f))) throw new Error(`the dashboard build made no ${f}`);
  mkdirSync(cacheDir, { recursive: true });
  try {
    renameSync(tmp, out);
  } catch (err) {
    // Another process built the same version first.
    if (!existsSync(path.join(out, 'index.html'))) throw err;
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

