// `vmflow tokens`: API tokens, straight in the registry database (no API needed to make the first).
import { Command, Option } from 'commander';
import os from 'node:os';
import { ROLES, type Role } from '../../auth/roles';
import type { TokenStore } from '../../auth/store';
import { loadConfig } from '../../config';
import { printTable, withOutput, type OutputOptions, isStructured, printData } from '../output';

async function withStore<T>(fn: (store: TokenStore) => Promise<T>): Promise<T> {
  const { TokenStore } = await import('../../auth/store');
  const store = await TokenStore.open(loadConfig().registryUrl);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function tokenCommands(): Command {
  const cmd = new Command('tokens').description('API tokens: viewer reads, operator runs commands, admin manages hypervisors and tokens');

  withOutput(
    cmd
      .command('create')
      .description('create a token; its secret is printed once')
      .addOption(new Option('--role <role>', 'what it may do').choices([...ROLES]).makeOptionMandatory())
      .requiredOption('--name <name>', 'who or what uses it (ci, alice)'),
  ).action(async (o: OutputOptions & { role: Role; name: string }) =>
    withStore(async (store) => {
      const { token, secret } = await store.create({ name: o.name, role: o.role, createdBy: `cli:${os.userInfo().username}` });
      if (isStructured(o)) return printData(o, { token, secret });
      process.stdout.write(`token ${token.id} (${token.role}, ${token.name}) created. Its secret, shown only now:\n\n  ${secret}\n\nSend it as "Authorization: Bearer <secret>".\n`);
    }),
  );

  withOutput(cmd.command('list').description('list tokens (never their secrets)').option('--revoked', 'include revoked tokens')).action(async (o: OutputOptions & { revoked?: boolean }) =>
    withStore(async (store) => {
      const tokens = await store.list({ includeRevoked: o.revoked });
      if (isStructured(o)) return printData(o, tokens);
      printTable(
        ['ID', 'NAME', 'ROLE', 'CREATED', 'BY', 'REVOKED'],
        tokens.map((t) => [t.id, t.name, t.role, t.createdAt, t.createdBy, t.revokedAt]),
      );
    }),
  );

  withOutput(cmd.command('revoke <id>').description('revoke a token: requests carrying it are refused from now on')).action(async (id: string, o: OutputOptions) =>
    withStore(async (store) => {
      const token = await store.revoke(id);
      if (isStructured(o)) return printData(o, token);
      process.stdout.write(`token ${token.id} (${token.name}) revoked at ${token.revokedAt}\n`);
    }),
  );
  return cmd;
}
