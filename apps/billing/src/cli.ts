import { parseArgs } from 'node:util';

/**
 * billing-cli: month close and statements through the billing service's API (not PostgreSQL
 * directly: one path with its lock against rating in flight, its checks and its record of who
 * closed the month; the machine that runs it needs a token, not database credentials).
 */
export const USAGE = `billing-cli <command> [options]

  close-month YYYY-MM                          freeze a month: later changes become corrections
                                               billed in the next open month
  statement carrier|customer|meter ID YYYY-MM  print a statement (JSON, or CSV with --csv)

  --url URL     the billing service (default $BILLING_URL, else http://127.0.0.1:3005)
  --csv         statement as CSV

The token is read from $BILLING_TOKEN (admin for close-month, viewer for statements), never
from the command line. Exit status: 0 done, 1 failed, 64 usage.
`;

export class CliUsageError extends Error {}

export type CliCommand =
  | { command: 'close-month'; period: string; url: string; token: string }
  | {
      command: 'statement';
      subject: 'carrier' | 'customer' | 'meter';
      id: string;
      period: string;
      csv: boolean;
      url: string;
      token: string;
    };

const PERIOD = /^[0-9]{4}-(0[1-9]|1[0-2])$/;
const SUBJECTS = { carrier: 'carriers', customer: 'customers', meter: 'meters' } as const;

export function parseCli(argv: string[], env: NodeJS.ProcessEnv): CliCommand {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      csv: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) throw new CliUsageError('');
  const token = env.BILLING_TOKEN;
  if (!token) throw new CliUsageError('set BILLING_TOKEN to a token of the billing service');
  const url = (values.url ?? env.BILLING_URL ?? 'http://127.0.0.1:3005').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new CliUsageError(`--url must be http(s)://, got ${url}`);
  const [command, ...args] = positionals;
  if (command === 'close-month') {
    const [period, ...rest] = args;
    if (!period || !PERIOD.test(period) || rest.length > 0)
      throw new CliUsageError('close-month takes one YYYY-MM');
    return { command, period, url, token };
  }
  if (command === 'statement') {
    const [subject, id, period, ...rest] = args;
    if (subject !== 'carrier' && subject !== 'customer' && subject !== 'meter')
      throw new CliUsageError('statement carrier|customer|meter ID YYYY-MM');
    if (!id || !period || !PERIOD.test(period) || rest.length > 0)
      throw new CliUsageError('statement carrier|customer|meter ID YYYY-MM');
    return { command, subject, id, period, csv: values.csv ?? false, url, token };
  }
  throw new CliUsageError(`unknown command ${command ?? '(none)'}`);
}

/** The request a command makes. */
export function requestFor(cli: CliCommand): { method: 'GET' | 'POST'; url: string } {
  if (cli.command === 'close-month')
    return { method: 'POST', url: `${cli.url}/v1/months/${cli.period}/close` };
  const path = `/v1/statements/${SUBJECTS[cli.subject]}/${encodeURIComponent(cli.id)}/${cli.period}`;
  return { method: 'GET', url: `${cli.url}${path}${cli.csv ? '?format=csv' : ''}` };
}

async function run(cli: CliCommand): Promise<number> {
  const { method, url } = requestFor(cli);
  const res = await fetch(url, { method, headers: { authorization: `Bearer ${cli.token}` } });
  const text = await res.text();
  if (!res.ok) {
    process.stderr.write(
      `billing-cli: the service answered ${res.status}: ${text.slice(0, 2000)}\n`,
    );
    return 1;
  }
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  if (cli.command === 'close-month') {
    const result = JSON.parse(text) as { alreadyClosed: boolean; pendingRatings: number };
    process.stderr.write(
      `billing-cli: ${cli.period} ${result.alreadyClosed ? 'was already closed' : 'closed'}` +
        (result.pendingRatings > 0
          ? `; ${result.pendingRatings} meter month(s) still to rate will be billed as corrections\n`
          : '\n'),
    );
  }
  return 0;
}

if (require.main === module) {
  let cli: CliCommand;
  try {
    cli = parseCli(process.argv.slice(2), process.env);
  } catch (error) {
    const argsError = /^ERR_PARSE_ARGS/.test((error as { code?: string }).code ?? '');
    if (error instanceof CliUsageError || argsError) {
      const message = error instanceof Error ? error.message : '';
      if (message) process.stderr.write(`billing-cli: ${message}\n\n`);
      process.stderr.write(USAGE);
      process.exit(64);
    }
    throw error;
  }
  run(cli).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(
        `billing-cli: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
