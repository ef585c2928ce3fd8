import { parseArgs } from 'node:util';
import { CliUsageError, runCli } from '@meterlink/config';
import { FileEimKeyStore, nextKeyPath, rotateEimKeys } from './eim-key.store';

/**
 * eim-keys: the eIM key files, offline (`node dist/apps/profile-orchestrator/src/eim-keys/eim-key-cli.js`).
 * Run it where the orchestrator's key files live, as the user that owns them.
 */
export const USAGE = `eim-keys <command> [options]

  jwks     print the public JWKS the orchestrator publishes (current key, then next),
           generating a missing key file as the orchestrator does at start
  rotate   promote the next key to current and generate a new next key; the old current key is
           kept as <key file>.retired-<kid>. Restart every orchestrator afterwards.

  --key-file FILE        the current key (default $EIM_KEY_FILE)
  --next-key-file FILE   the next key (default $EIM_NEXT_KEY_FILE, else beside the key file:
                         eim-key.json → eim-key.next.json)

Exit status: 0 done, 1 failed, 64 usage.
`;

export interface EimKeyCommand {
  command: 'jwks' | 'rotate';
  keyFile: string;
  nextKeyFile: string;
}

export function parseEimKeyCli(argv: string[], env: NodeJS.ProcessEnv): EimKeyCommand {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'key-file': { type: 'string' }, 'next-key-file': { type: 'string' } },
  });
  const [command, ...rest] = positionals;
  if (command !== 'jwks' && command !== 'rotate')
    throw new CliUsageError(command ? `unknown command ${command}` : 'a command is required');
  if (rest.length > 0) throw new CliUsageError(`unexpected argument ${rest[0]}`);
  const keyFile = values['key-file'] ?? env.EIM_KEY_FILE;
  if (!keyFile) throw new CliUsageError('--key-file or $EIM_KEY_FILE is required');
  const nextKeyFile = values['next-key-file'] ?? env.EIM_NEXT_KEY_FILE ?? nextKeyPath(keyFile);
  return { command, keyFile, nextKeyFile };
}

export async function runEimKeyCli(cli: EimKeyCommand): Promise<number> {
  if (cli.command === 'rotate') {
    const rotated = await rotateEimKeys(cli.keyFile, cli.nextKeyFile);
    process.stderr.write(
      `eim-keys: ${rotated.currentKid} is now current, ${rotated.nextKid} next; ${rotated.retiredKid} retired to ${rotated.retiredPath}. Restart every orchestrator.\n`,
    );
  }
  const store = new FileEimKeyStore(cli.keyFile, cli.nextKeyFile);
  await store.load();
  process.stdout.write(`${JSON.stringify(store.jwks(), null, 2)}\n`);
  return 0;
}

if (require.main === module) runCli('eim-keys', USAGE, parseEimKeyCli, runEimKeyCli);
