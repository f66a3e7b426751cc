// The Temporal Web UI server, started as the temporalio/ui image starts it: `ui-server --env
// docker start` over its own config template, set through TEMPORAL_* variables.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import getPort from 'get-port';

export interface UiServer {
  readonly url: string;
  readonly environment: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

export async function startUiServer(options: { binary: string; configDir: string; temporalAddress: string; namespace: string; dir: string }): Promise<UiServer> {
  const port = await getPort({ host: '127.0.0.1' });
  const environment: Record<string, string> = {
    TEMPORAL_ADDRESS: options.temporalAddress,
    TEMPORAL_UI_PORT: String(port),
    TEMPORAL_DEFAULT_NAMESPACE: options.namespace,
    TEMPORAL_DISABLE_NEWS_FETCH: 'true',
  };
  const logFile = path.join(options.dir, 'ui-server.log');
  const out = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn(options.binary, ['--root', path.dirname(options.configDir), '--config', path.basename(options.configDir), '--env', 'docker', 'start'], {
    env: { PATH: process.env.PATH ?? '', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  // The UI binds to every interface unless told otherwise; the test reaches it on loopback.
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ui-server exited (${child.exitCode}):\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    const ok = await fetch(`${url}/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`ui-server did not answer on ${url} within 60 s:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    environment,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      process.removeListener('exit', killOnExit);
      out.end();
    },
  };
}
