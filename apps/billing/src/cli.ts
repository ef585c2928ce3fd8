import { parseArgs } from 'node:util';
import { CliUsageError, cliServiceUrl, runCli } from '@meterlink/config';

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

export { CliUsageError };

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
  const url = cliServiceUrl(values.url, env.BILLING_URL, 'http://127.0.0.1:3005');
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

if (require.main === module) runCli('billing-cli', USAGE, parseCli, run);
