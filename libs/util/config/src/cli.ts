/** A command line that does not parse: the CLI prints the message and its usage, exit 64. */
export class CliUsageError extends Error {}

/**
 * The service URL a CLI talks to: `--url`, else the environment's, else the default; without
 * trailing slashes, and http(s) only.
 */
export function cliServiceUrl(
  flag: string | undefined,
  fromEnv: string | undefined,
  fallback: string,
): string {
  const url = (flag ?? fromEnv ?? fallback).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new CliUsageError(`--url must be http(s)://, got ${url}`);
  return url;
}

/**
 * The entry point of an operator CLI: parses the arguments (a usage error, including one of
 * node's parseArgs, prints the usage and exits 64), runs the command and exits with its status;
 * a failure prints `name: message` and exits 1.
 */
export function runCli<C>(
  name: string,
  usage: string,
  parse: (argv: string[], env: NodeJS.ProcessEnv) => C,
  run: (cli: C) => Promise<number>,
): void {
  let cli: C;
  try {
    cli = parse(process.argv.slice(2), process.env);
  } catch (error) {
    const argsError = /^ERR_PARSE_ARGS/.test((error as { code?: string }).code ?? '');
    if (error instanceof CliUsageError || argsError) {
      const message = error instanceof Error ? error.message : '';
      if (message) process.stderr.write(`${name}: ${message}\n\n`);
      process.stderr.write(usage);
      process.exit(64);
    }
    throw error;
  }
  run(cli).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
