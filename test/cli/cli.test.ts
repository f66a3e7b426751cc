// The TypeScript client and the `vmflow` CLI (as a child process) each drive a container through
// create → migrate → destroy on a real stack; the CLI's tables (and -o wide), JSON and YAML,
// --wait (each step once, in order, and how it ended), --watch, exit codes, completion scripts,
// events, reorder and retarget, hypervisor drain and remove, tokens, environments and sim admin. The CLI's operator commands reach only the
// REST API, with a token: their Temporal address and registry URL point nowhere.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TokenStore } from '../../src/auth';
import { startApi, type ApiUnderTest } from '../api/support';
import { parse as parseYaml } from 'yaml';
import { monitorCycle } from '../support/cycles';
import { eventually } from '../support/invariants';
import { startStack, type Stack } from '../support/stack';

const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('client and CLI on a real stack', () => {
  let stack: Stack;
  let api: ApiUnderTest;
  let dataDir: string;
  before(async () => {
    stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }, { name: 'hv-3' }] });
    api = await startApi(stack);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-cli-'));
  });
  after(async () => {
    await api?.close();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The environment of a process command (`vmflow api`) or a local admin command (`vmflow tokens`): the stack's Temporal and registry. */
  function cliEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VMFLOW_')));
    return Object.assign(env, {
      VMFLOW_TEMPORAL_ADDRESS: stack.temporal.address,
      VMFLOW_REGISTRY_URL: stack.registryUrl,
      VMFLOW_SIM_URL: stack.sim.url,
      VMFLOW_DATA_DIR: dataDir,
      VMFLOW_WEB_UI_URL: 'http://127.0.0.1:8233',
    });
  }

  /** The environment of an operator command: the API and a token; Temporal and the registry are unreachable. */
  function operatorEnv(token: string = api.tokens.admin): NodeJS.ProcessEnv {
    return Object.assign(cliEnv(), {
      VMFLOW_API_URL: api.url,
      VMFLOW_TOKEN: token,
      VMFLOW_TEMPORAL_ADDRESS: '127.0.0.1:1',
      VMFLOW_REGISTRY_URL: 'mysql://nobody:nothing@127.0.0.1:1/none',
    });
  }

  /** Runs `vmflow <args>` as an operator, against the stack's API. */
  function vmflow(...args: string[]): Promise<Run> {
    return run(operatorEnv(), args);
  }

  /** Runs `vmflow <args>` with the stack's Temporal and registry (tokens, the API process). */
  function local(...args: string[]): Promise<Run> {
    return run(cliEnv(), args);
  }

  function run(env: NodeJS.ProcessEnv, args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }
  const ok = async (...args: string[]): Promise<Run> => {
    const r = await vmflow(...args);
    assert.equal(r.code, 0, `vmflow ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r;
  };
  const json = async (...args: string[]) => JSON.parse((await ok(...args, '-o', 'json')).stdout);
  const localJson = async (...args: string[]) => {
    const r = await local(...args, '-o', 'json');
    assert.equal(r.code, 0, `vmflow ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout);
  };

  test('the client drives create → migrate → destroy', async () => {
    const client = stack.client;
    const created = await (await client.containers.create('client-web', { definition: { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 }, hint: 'hv-1' })).result();
    assert.equal(created.host, 'hv-1');
    const handle = await client.containers.migrate('client-web', { target: 'hv-2' });
    const info = await handle.describe();
    assert.equal(info.command, 'migrate');
    assert.equal((await handle.result()).host, 'hv-2');
    assert.equal((await handle.describe()).status, 'COMPLETED');
    await (await client.containers.destroy('client-web')).result();
    await assert.rejects(client.containers.get('client-web'), /not found/);
    const listed = await eventually(async () => {
      const l = await client.commands.list({ container: 'client-web' });
      return l.length === 3 ? l : undefined;
    });
    assert.deepEqual(listed.map((c) => c.command).sort(), ['create', 'destroy', 'migrate']);
  });

  test('the CLI drives create → migrate → destroy with --wait, tables and JSON', async () => {
    const created = await ok('containers', 'create', 'cli-web', '--kind', 'web', '--cpus', '1', '--memory', '512', '--disk', '5', '--hint', 'hv-1', '--wait');
    assert.match(created.stdout, /container cli-web: create accepted/);
    assert.match(created.stdout, /Web UI\s+http:\/\/127\.0\.0\.1:8233\/namespaces\/default\/workflows\/container%2Fcli-web%2Fcreate%2F/);
    assert.match(created.stdout, /✔ claim capacity/);
    assert.match(created.stdout, /done: cli-web is running on hv-1/);

    const table = (await ok('containers', 'list')).stdout.split('\n');
    assert.match(table[0]!, /^NAME\s+STATE\s+HOST\s+KIND/);
    const row = table.find((l) => l.startsWith('cli-web'))!;
    assert.equal(row.indexOf('running'), table[0]!.indexOf('STATE'), 'columns are aligned');

    const moved = await json('containers', 'migrate', 'cli-web', '--to', 'hv-2', '--wait');
    assert.equal(moved.status, 'COMPLETED');
    assert.equal(moved.result.host, 'hv-2');
    assert.match(moved.workflowId, /^container\/cli-web\/migrate\//);
    const shown = await json('commands', 'show', moved.workflowId);
    assert.equal(shown.status, 'COMPLETED');
    assert.ok(shown.webUi.endsWith(encodeURIComponent(moved.workflowId)));

    const node = (await json('containers', 'list')).find((c: { name: string }) => c.name === 'cli-web');
    assert.equal(node.parent.id, (await stack.client.hypervisors.get('hv-2')).id);
    assert.equal(node.parent.name, 'hv-2');
    const owner = await json('keys', 'owner', `ip:${node.definition.network.ip}`);
    assert.equal(owner.owner.name, 'cli-web');

    await ok('containers', 'destroy', 'cli-web', '--wait');
    const gone = await vmflow('containers', 'show', 'cli-web');
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /container cli-web not found/);

    const listed = await eventually(async () => {
      const l = await json('commands', 'list', '--container', 'cli-web');
      return l.length === 3 ? l : undefined;
    });
    assert.deepEqual(listed.map((c: { command: string }) => c.command).sort(), ['create', 'destroy', 'migrate']);
    const text = (await ok('commands', 'list', '--hypervisor', 'hv-2', '--command', 'migrate')).stdout;
    assert.match(text, /^WORKFLOW ID\s+COMMAND\s+TARGET\s+STATUS/);
    assert.match(text, new RegExp(moved.workflowId));
  });

  test('failures exit non-zero with the message: a refused command, a bad flag, an unknown host', async () => {
    await (await stack.client.containers.create('cli-stopped', { definition: { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 }, start: false })).result();
    const refused = await vmflow('containers', 'stop', 'cli-stopped');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /cannot stop cli-stopped: it is stopped/);
    const badFlag = await vmflow('containers', 'create', 'x1', '--cpus', 'many', '--memory', '1', '--disk', '1');
    assert.notEqual(badFlag.code, 0);
    assert.match(badFlag.stderr, /--cpus must be a positive number, not "many"/);
    const noHost = await vmflow('hypervisors', 'drain', 'hv-none');
    assert.equal(noHost.code, 2);
    assert.match(noHost.stderr, /hypervisor hv-none not found/);
    const failedWait = await vmflow('containers', 'migrate', 'cli-stopped', '--to', 'hv-none', '--wait');
    assert.notEqual(failedWait.code, 0);
    assert.match(failedWait.stderr, /hv-none not found/);
  });

  test('the CLI sends its token: none is refused, a viewer reads but may not run commands', async () => {
    const none = await run(operatorEnv(''), ['containers', 'list']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /vmflow: .*token/i);
    const viewer = await run(operatorEnv(api.tokens.viewer), ['hypervisors', 'list']);
    assert.equal(viewer.code, 0, viewer.stderr);
    assert.match(viewer.stdout, /^NAME\s+STATE\s+DRIVER/);
    const refused = await run(operatorEnv(api.tokens.viewer), ['containers', 'create', 'viewer-web', '--cpus', '1', '--memory', '512', '--disk', '5']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /operator/);
    const unreachable = await run({ ...operatorEnv(), VMFLOW_API_URL: 'http://127.0.0.1:1' }, ['containers', 'list']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the vmflow API at http:\/\/127\.0\.0\.1:1/);
  });

  test('hypervisors: drain marks it draining, remove is refused while containers are on it', async () => {
    // A host of its own: placement is seeded by command id, so other tests' containers may be anywhere.
    await stack.addHosts([{ name: 'hv-9' }]);
    await (await stack.client.containers.create('on-9', { definition: { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 }, hint: 'hv-9' })).result();
    assert.match((await ok('hypervisors', 'drain', 'hv-9', '--reason', 'disk swap', '--keep')).stdout, /hv-9 is draining; 1 container/);
    const list = (await ok('hypervisors', 'list')).stdout;
    assert.match(list.split('\n').find((l) => l.startsWith('hv-9'))!, /draining/);
    const refused = await vmflow('hypervisors', 'remove', 'hv-9');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /still has 1 container/);
    assert.equal((await json('hypervisors', 'undrain', 'hv-9')).state, 'up');
    await (await stack.client.containers.destroy('on-9')).result();
    await ok('hypervisors', 'remove', 'hv-9');
    await assert.rejects(stack.client.hypervisors.get('hv-9'), /not found/);
  });

  test('tokens: create prints the secret once, list never does, revoke refuses it from then on', async () => {
    const created = await localJson('tokens', 'create', '--role', 'operator', '--name', 'ci');
    assert.equal(created.token.role, 'operator');
    const store = await TokenStore.open(stack.registryUrl);
    try {
      assert.ok((await store.verify(created.secret)).ok);
      const listed = await local('tokens', 'list');
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`${created.token.id}\\s+ci\\s+operator`));
      assert.ok(!listed.stdout.includes(created.secret));
      assert.equal((await local('tokens', 'revoke', created.token.id)).code, 0);
      assert.deepEqual(await store.verify(created.secret), { ok: false, reason: 'revoked' });
    } finally {
      await store.close();
    }
  });

  test('environments: create, add a new member, show, destroy', async () => {
    await ok('environments', 'create', 'cli-env', '--description', 'shop', '--wait');
    await ok('env', 'add', 'cli-env', '--create', 'cli-db', '--kind', 'db', '--cpus', '1', '--memory', '512', '--disk', '5', '--wait');
    const shown = await json('environments', 'show', 'cli-env');
    assert.deepEqual(shown.members.map((m: { name: string }) => m.name), ['cli-db']);
    assert.match((await ok('environments', 'show', 'cli-env')).stdout, /MEMBER\s+KIND\s+PRIORITY/);
    await ok('environments', 'destroy', 'cli-env', '--wait');
    await assert.rejects(stack.client.environments.get('cli-env'), /not found/);
  });

  test('environments create --member: the members are placed together and built by priority', async () => {
    const bad = await vmflow('environments', 'create', 'cli-trio', '--member', 'cli-m1:generic:1:512');
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--member.*cli-m1:generic:1:512 is not name:kind:cpus:memory:disk/);
    const r = await json('environments', 'create', 'cli-trio', '--member', 'cli-m1:generic:1:512:5@hv-2', '--member', 'cli-m2:db:1:512:5', '--wait');
    assert.deepEqual(r.result.created, ['cli-m2', 'cli-m1']);
    const members = await stack.client.environments.members('cli-trio');
    assert.equal(members.find((m) => m.name === 'cli-m1')?.host, 'hv-2');
    await ok('environments', 'destroy', 'cli-trio', '--wait');
  });

  test('sim admin: hosts, delays, failure rules, partition and rejoin', async () => {
    const hosts = await json('sim', 'hosts');
    assert.ok(hosts.some((h: { id: string }) => h.id === 'hv-1'));
    assert.deepEqual(await json('sim', 'delays', '--host', 'hv-1', 'define=5'), { define: 5 });
    assert.deepEqual(await json('sim', 'delays', '--host', 'hv-1', 'define=null'), {});
    const rule = await json('sim', 'failures', 'add', '--operation', 'define', '--host', 'hv-1', '--times', '1');
    assert.match((await ok('sim', 'failures', 'list')).stdout, new RegExp(rule.id));
    await ok('sim', 'failures', 'clear');
    assert.deepEqual(await json('sim', 'failures', 'list'), []);
    assert.equal((await json('sim', 'partition', 'hv-2')).power, 'partitioned');
    assert.equal((await json('sim', 'rejoin', 'hv-2')).power, 'up');
  });

  test('-o yaml and -o wide, get as show, --version, completion scripts', async () => {
    await (await stack.client.containers.create('cli-out', { definition: { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 }, hint: 'hv-1' })).result();
    const yaml = (await ok('containers', 'get', 'cli-out', '-o', 'yaml')).stdout;
    const parsed = parseYaml(yaml);
    assert.equal(parsed.name, 'cli-out');
    assert.equal(parsed.host, 'hv-1');
    assert.deepEqual(parsed, await json('containers', 'show', 'cli-out'));
    const wide = (await ok('containers', 'list', '-o', 'wide')).stdout.split('\n');
    assert.match(wide[0]!, /^NAME\s+STATE\s+HOST\s+KIND.*\s+ENVIRONMENT\s+MAC\s+IMAGE\s+ID\s+STATE CAUSE$/);
    const row = wide.find((l) => l.startsWith('cli-out'))!;
    assert.ok(row.includes((await stack.client.containers.get('cli-out')).id), row);
    assert.match((await ok('hypervisors', 'list', '-o', 'wide')).stdout, /^NAME\s+STATE\s+DRIVER.*ADDRESS\s+LABELS/);
    assert.ok(Array.isArray(parseYaml((await ok('commands', 'list', '--container', 'cli-out', '-o', 'yaml')).stdout)));

    const version = await vmflow('--version');
    assert.equal(version.code, 0);
    assert.equal(version.stdout.trim(), require('../../package.json').version);
    const bash = (await ok('completion', 'bash')).stdout;
    assert.match(bash, /complete -F _vmflow vmflow/);
    assert.match(bash, /'containers'\) echo '[^']*\bevents\b/);
    assert.match(bash, /'commands'\) echo '[^']*\breorder\b/);
    assert.match(bash, /'-o'\) echo 'table wide json yaml'/);
    const zsh = (await ok('completion', 'zsh')).stdout;
    assert.match(zsh, /^#compdef vmflow/);
    assert.match(zsh, /bashcompinit/);
    // The script completes for real in bash.
    const words = await new Promise<string>((resolve, reject) => {
      const child = spawn('bash', ['-c', `${bash}\nCOMP_WORDS=(vmflow ct ev); COMP_CWORD=2; _vmflow; echo "\${COMPREPLY[*]}"`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.once('error', reject);
      child.once('exit', () => resolve(out.trim()));
    });
    assert.equal(words, 'events');
  });

  test('exit codes: 2 for a usage error or a refusal, 1 for a failure', async () => {
    const unknown = await vmflow('containers', 'list', '--colour');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--colour'/);
    const missing = await vmflow('containers', 'events');
    assert.equal(missing.code, 2);
    assert.equal((await vmflow('commands', 'list', '--status', 'canceled')).code, 2, 'one spelling: cancelled');
    assert.equal((await vmflow('commands', 'list', '--status', 'cancelled')).code, 0);
    const noRoom = await vmflow('containers', 'create', 'cli-huge', '--cpus', '1000', '--memory', '512', '--disk', '5');
    assert.equal(noRoom.code, 2);
    assert.equal(noRoom.stderr.trim(), 'vmflow: no capacity for cli-huge: 3 hosts full on cpu');
    const rule = await stack.sim.admin.addFailure({ operation: 'define', host: 'hv-3', times: 1, message: 'the disk is on fire' });
    try {
      const failed = await vmflow('containers', 'create', 'cli-fails', '--cpus', '1', '--memory', '512', '--disk', '5', '--hint', 'hv-3', '--wait');
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /the disk is on fire/);
    } finally {
      await stack.sim.admin.removeFailure(rule.id).catch(() => undefined);
    }
  });

  test('--watch draws a list again until interrupted', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'hypervisors', 'list', '--watch', '--interval', '0.5'], { cwd: ROOT, env: operatorEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    await eventually(async () => ((stdout.match(/^NAME\s+STATE\s+DRIVER/gm) ?? []).length >= 2 ? true : undefined), 30_000, 'two drawings');
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(stdout, /every 0\.5s: \d{4}-/);
  });

  test('events of a container, an environment and a host', async () => {
    await ok('environments', 'create', 'cli-ev', '--wait');
    await ok('env', 'add', 'cli-ev', '--create', 'cli-ev-db', '--kind', 'db', '--cpus', '1', '--memory', '512', '--disk', '5', '--wait');
    const envEvents = (await ok('environments', 'events', 'cli-ev')).stdout;
    assert.match(envEvents, /^AGE\s+WHAT\s+WHY\s+BY/);
    assert.match(envEvents, /hook afterItIsAdded\s+cli-ev-db \(db, priority 10\)\s+environment/);
    const items = await json('environments', 'events', 'cli-ev');
    assert.ok(items.length >= 1 && items.every((e: { at: string; by: string }) => e.at && e.by));
    await stack.addHosts([{ name: 'hv-ev' }]);
    await stack.sim.admin.crash('hv-ev');
    const monitor = { downAfter: 1, contactEverySeconds: 60, pollTimeoutMs: 1000 };
    await monitorCycle(stack, monitor);
    assert.match((await ok('hypervisors', 'events', 'hv-ev')).stdout, /state up → down/);
    assert.equal((await json('containers', 'events', 'cli-ev-db')).length >= 0, true);
    const none = await vmflow('containers', 'events', 'nobody');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /container nobody not found/);
  });

  test('environment --wait: each step once and in order, and the end says what the members do and what was created', async () => {
    await ok('environments', 'create', 'cli-shop', '--wait');
    const first = await ok('env', 'add', 'cli-shop', '--create', 'cli-w1', '--kind', 'web', '--cpus', '1', '--memory', '512', '--disk', '5', '--wait');
    assert.match(first.stdout, /done: environment cli-shop is running; created cli-w1\n$/);
    const second = await ok('env', 'add', 'cli-shop', '--create', 'cli-w2', '--kind', 'web', '--cpus', '1', '--memory', '512', '--disk', '5', '--wait');
    assert.match(second.stdout, /done: environment cli-shop is running; created cli-shop-balancer-\w+, cli-w2\n$/);
    for (const out of [first.stdout, second.stdout]) {
      assert.ok(!out.includes('undefined'), out);
      assert.ok(!/… done$/m.test(out), out);
      const lines = out.split('\n');
      const done = new Set<string>();
      for (const l of lines) {
        const m = /^ {2}([✔…]) (.*)$/.exec(l);
        if (!m) continue;
        assert.ok(!done.has(m[2]!), `"${m[2]}" after it was done:\n${out}`);
        if (m[1] === '✔') done.add(m[2]!);
      }
    }
    const stopped = await ok('environments', 'stop', 'cli-shop', '--wait');
    assert.match(stopped.stdout, /done: environment cli-shop is stopped\n$/);
    assert.match((await ok('environments', 'list')).stdout.split('\n').find((l) => l.startsWith('cli-shop'))!, /^cli-shop\s+stopped\s+3/);
    await ok('environments', 'start', 'cli-shop', '--wait');
    assert.match((await ok('environments', 'suspend', 'cli-shop', '--wait')).stdout, /done: environment cli-shop is suspended\n$/);
    assert.equal((await json('environments', 'show', 'cli-shop')).state, 'suspended');
  });

  test('commands reorder moves a queued command; a retarget shows in the summary', async () => {
    await (await stack.client.containers.create('cli-q', { definition: { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 }, hint: 'hv-1' })).result();
    // Each CLI run takes a few seconds to start: the first reboot holds the queue long enough.
    await stack.sim.admin.setDelays({ reboot: 20_000 }, 'hv-1');
    try {
      const slow = await json('containers', 'reboot', 'cli-q');
      const again = await json('containers', 'reboot', 'cli-q');
      const move = await json('containers', 'migrate', 'cli-q', '--to', 'hv-2');
      const out = (await ok('commands', 'reorder', move.workflowId, '--position', '1')).stdout;
      assert.match(out, new RegExp(`now 2 of 3 in its queue\\n {2}queue {2}${slow.commandId} → ${move.commandId} → ${again.commandId}`));
      const refused = await vmflow('commands', 'reorder', slow.workflowId, '--position', '2');
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /already running/);
      assert.match((await ok('commands', 'modify', move.workflowId, '--target', 'hv-3')).stdout, /target is now hv-3/);
      assert.equal((await json('commands', 'show', move.workflowId)).summary, 'migrate cli-q to hv-3');
      const followed = await ok('commands', 'show', move.workflowId, '--wait');
      assert.match(followed.stdout, /summary:\s+migrate cli-q to hv-3/);
      assert.match(followed.stdout, /commit: cli-q is on hv-3/);
    } finally {
      await stack.sim.admin.setDelays({ reboot: null }, 'hv-1');
    }
  });

  test('vmflow api serves the REST API with the tokens the CLI makes, and stops on SIGTERM', async () => {
    const { secret } = await localJson('tokens', 'create', '--role', 'viewer', '--name', 'api-check');
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'api', '--port', '0'], { cwd: ROOT, env: { ...cliEnv(), VMFLOW_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (d) => {
          err += d;
          const m = /vmflow API on (http:\/\/\S+)/.exec(err);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`vmflow api exited ${code}: ${err}`)));
      });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      assert.equal((await fetch(`${url}/v1/containers`)).status, 401);
      const list = await fetch(`${url}/v1/hypervisors`, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal(list.status, 200);
      assert.ok(((await list.json()) as { items: unknown[] }).items.length >= 2);
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
