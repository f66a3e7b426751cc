// `vmflow keys owner ip:10.0.0.5`: who owns a unique key.
import { Command } from 'commander';
import { seg } from '../api-client';
import { withApi } from '../context';
import type { NodeResource } from '../resources';
import { printTable, withOutput, type OutputOptions, isStructured, printData } from '../output';

export function keyCommands(): Command {
  const cmd = new Command('keys').description('unique keys: name:, ip:, mac:, volume:, claim:');
  withOutput(cmd.command('owner <key>').description('the node that owns a key')).action(async (key: string, o: OutputOptions) =>
    withApi(async (api) => {
      const owned = await api.get<{ key: string; owner: { id: string } }>(`/v1/keys/${seg(key)}`);
      const node = await api.get<NodeResource & { type: string }>(`/v1/nodes/${seg(owned.owner.id)}`);
      if (isStructured(o)) return printData(o, { key, owner: node });
      printTable(['KEY', 'OWNER', 'TYPE', 'STATE', 'ID'], [[key, node.name, node.type, node.state, node.id]]);
    }),
  );
  return cmd;
}
