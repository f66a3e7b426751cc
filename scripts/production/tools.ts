// The pinned Temporal server, its SQL tool and the Web UI server, built from source with Go into
// .tools/<name>/<version>/ and kept there: a version is built once, when it is missing. The Go
// module proxy serves the sources; nothing else is downloaded.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION, toolDir } from './versions';
import { executable } from '../../src/temporal/binaries';

interface Tool {
  readonly name: string;
  readonly version: string;
  /** `go install` argument. */
  readonly pkg: string;
  /** The binary go install writes (the package's last path element). */
  readonly installs: string;
}

const SERVER: Tool = { name: 'temporal-server', version: TEMPORAL_SERVER_VERSION, pkg: `go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION}`, installs: 'server' };
const SQL_TOOL: Tool = { name: 'temporal-sql-tool', version: TEMPORAL_SERVER_VERSION, pkg: `go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`, installs: 'sql' };
const UI_SERVER: Tool = { name: 'temporal-ui-server', version: TEMPORAL_UI_VERSION, pkg: `github.com/temporalio/ui-server/v2/cmd/server@v${TEMPORAL_UI_VERSION}`, installs: 'server' };

/** A cold build of the server takes minutes and ~2.6 GB to link; past this it is stuck. */
const BUILD_TIMEOUT_MS = 45 * 60_000;

export interface ToolPaths {
  readonly temporalServer: string;
  readonly sqlTool: string;
  readonly uiServer: string;
  /** The UI server's config folder (its own base.yaml and docker.yaml, as in the temporalio/ui image). */
  readonly uiConfigDir: string;
}

function binaryOf(tool: Tool): string {
  return path.join(toolDir(tool.name, tool.version), tool.name);
}


function goBinary(): string {
  if (process.env.GO && executable(process.env.GO)) return process.env.GO;
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/go/bin']) if (dir && executable(path.join(dir, 'go'))) return path.join(dir, 'go');
  throw new Error('no Go toolchain: install Go (1.26 builds Temporal 1.32) or set GO to the go binary');
}

function build(tool: Tool, log: (line: string) => void): void {
  const target = binaryOf(tool);
  if (executable(target)) return;
  const dir = path.dirname(target);
  mkdirSync(dir, { recursive: true });
  // Its own GOBIN, renamed into place at the end: two runs building at once never see half a binary.
  const gobin = mkdtempSync(path.join(dir, '.build-'));
  const started = Date.now();
  log(`tools: building ${tool.pkg} (rebuilt only when .tools/${tool.name}/${tool.version} is missing)`);
  try {
    const r = spawnSync(goBinary(), ['install', '-ldflags=-s -w', tool.pkg], {
      env: { ...process.env, GOBIN: gobin, GOFLAGS: '-buildvcs=false' },
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: BUILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    if (r.status !== 0) throw new Error(`go install ${tool.pkg} failed (${r.status ?? r.signal})`);
    renameSync(path.join(gobin, tool.installs), target);
    log(`tools: ${tool.name} ${tool.version} built in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
}

/** The UI server reads base.yaml and <env>.yaml from its config folder; docker.yaml is a template over TEMPORAL_* variables. */
function uiConfig(): string {
  const dir = path.join(toolDir(UI_SERVER.name, UI_SERVER.version), 'config');
  if (existsSync(path.join(dir, 'docker.yaml'))) return dir;
  const modCache = execFileSync(goBinary(), ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
  const source = path.join(modCache, 'github.com', 'temporalio', 'ui-server', `v2@v${UI_SERVER.version}`, 'config');
  if (!existsSync(source)) execFileSync(goBinary(), ['mod', 'download', `github.com/temporalio/ui-server/v2@v${UI_SERVER.version}`], { stdio: 'inherit', env: { ...process.env, GOFLAGS: '-mod=mod' } });
  mkdirSync(dir, { recursive: true });
  for (const f of ['base.yaml', 'docker.yaml']) copyFileSync(path.join(source, f), path.join(dir, f));
  return dir;
}

/** Builds what is missing; returns where everything is. */
export function ensureTools(log: (line: string) => void = (l) => console.error(l)): ToolPaths {
  for (const tool of [SQL_TOOL, UI_SERVER, SERVER]) build(tool, log);
  return toolPaths(uiConfig());
}

/** Where the tools are, when they were built (ensureTools builds them). */
export function toolPaths(uiConfigDir = path.join(toolDir(UI_SERVER.name, UI_SERVER.version), 'config')): ToolPaths {
  const paths = { temporalServer: binaryOf(SERVER), sqlTool: binaryOf(SQL_TOOL), uiServer: binaryOf(UI_SERVER), uiConfigDir };
  for (const p of [paths.temporalServer, paths.sqlTool, paths.uiServer]) if (!executable(p)) throw new Error(`${p} is missing: run \`npm run test:production\` (it builds the pinned Temporal tools)`);
  return paths;
}

if (require.main === module) console.log(JSON.stringify(ensureTools(), null, 2));
