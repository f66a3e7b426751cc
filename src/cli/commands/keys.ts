// `vmflow keys owner ip:10.0.0.5`: who owns a unique key.
import { Command } from 'commander';
import { withClient } from '../context';
import { printJson, printTable, withOutput, type OutputOptions } from '../output';

export function keyCommands(): Command {
  const cmd = new Command('keys').description('unique keys: name:, ip:, mac:, volume:, claim:');
  withOutput(cmd.command('owner <key>').description('the node that owns a key')).action(async (key: string, o: OutputOptions) =>
    withClient(async (client) => {
      const node = await client.nodes.owner(key);
      if (o.output === 'json') return printJson({ key, owner: node });
      printTable(['KEY', 'OWNER', 'TYPE', 'STATE', 'ID'], [[key, node.name, node.type, node.state, node.id]]);
    }),
  );
  return cmd;
}
