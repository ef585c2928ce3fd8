import { createReadStream, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { CliUsageError, cliServiceUrl, runCli } from '@meterlink/config';

/**
 * registry-cli: imports through the registry's operator API, streaming the file.
 *
 * It talks to the API rather than to PostgreSQL and the broker directly, on purpose: one import
 * path (validation, line errors, audit, broker credentials, the stored report) whichever way a
 * manifest arrives, and the machine that runs it needs an admin token, not database and broker
 * credentials. The upload is read by the registry only as fast as it imports, so memory stays
 * flat on both ends for a million-line manifest.
 */
export const USAGE = `registry-cli <command> [options]

  import-manifest FILE|-   stream an NDJSON factory manifest to POST /v1/imports/manifest
  import-catalogue FILE    send a carrier catalogue (JSON) to PUT /v1/catalogue

  --url URL     the registry (default $REGISTRY_URL, else http://127.0.0.1:3001)

The admin token is read from $REGISTRY_TOKEN (never from the command line, where ps shows it).
Prints the import report (JSON) on stdout. Exit status: 0 imported, 2 imported with rejected
lines (listed in the report), 1 failed, 64 usage.
`;

export { CliUsageError };

export interface CliCommand {
  command: 'import-manifest' | 'import-catalogue';
  file: string;
  url: string;
  token: string;
}

export function parseCli(argv: string[], env: NodeJS.ProcessEnv): CliCommand {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) throw new CliUsageError('');
  const [command, file, ...rest] = positionals;
  if (command !== 'import-manifest' && command !== 'import-catalogue')
    throw new CliUsageError(`unknown command ${command ?? '(none)'}`);
  if (!file || rest.length > 0) throw new CliUsageError(`${command} takes one FILE`);
  if (file === '-' && command === 'import-catalogue')
    throw new CliUsageError('import-catalogue reads a file');
  const token = env.REGISTRY_TOKEN;
  if (!token) throw new CliUsageError('set REGISTRY_TOKEN to an admin token of the registry');
  const url = cliServiceUrl(values.url, env.REGISTRY_URL, 'http://127.0.0.1:3001');
  return { command, file, url, token };
}

function send(
  url: string,
  method: string,
  token: string,
  contentType: string,
  body: Readable,
): Promise<{ status: number; text: string }> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers: { authorization: `Bearer ${token}`, 'content-type': contentType } },
      (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    pipeline(body, req).catch(reject);
  });
}

async function run(cli: CliCommand): Promise<number> {
  const manifest = cli.command === 'import-manifest';
  const input = cli.file === '-' ? process.stdin : createReadStream(cli.file);
  const size = cli.file === '-' ? undefined : statSync(cli.file).size;
  const started = Date.now();
  let sent = 0;
  input.on('data', (chunk: Buffer | string) => (sent += chunk.length));
  const progress = setInterval(() => {
    const share = size ? ` (${((100 * sent) / size).toFixed(0)} %)` : '';
    process.stderr.write(`registry-cli: ${(sent / 2 ** 20).toFixed(0)} MiB sent${share}\n`);
  }, 5_000);
  try {
    const { status, text } = await send(
      `${cli.url}${manifest ? '/v1/imports/manifest' : '/v1/catalogue'}`,
      manifest ? 'POST' : 'PUT',
      cli.token,
      manifest ? 'application/x-ndjson' : 'application/json',
      input,
    );
    if (status >= 300) {
      process.stderr.write(
        `registry-cli: the registry answered ${status}: ${text.slice(0, 2000)}\n`,
      );
      return 1;
    }
    process.stdout.write(`${text}\n`);
    const report = JSON.parse(text) as { rejected?: number; imported?: number; unchanged?: number };
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(
      manifest
        ? `registry-cli: ${report.imported} imported, ${report.unchanged} unchanged, ${report.rejected} rejected in ${seconds.toFixed(1)} s\n`
        : `registry-cli: catalogue imported in ${seconds.toFixed(1)} s\n`,
    );
    return (report.rejected ?? 0) > 0 ? 2 : 0;
  } finally {
    clearInterval(progress);
  }
}

if (require.main === module) runCli('registry-cli', USAGE, parseCli, run);
