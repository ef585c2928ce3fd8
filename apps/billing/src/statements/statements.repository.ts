import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from '@meterlink/postgres';
import type { Statement, StatementLine } from '../api/api-schemas';
import { PG_POOL } from '../tokens';

export type StatementSubject = Statement['subject'];

const SUBJECT_COLUMN: Record<StatementSubject, string> = {
  carrier: 'carrier_id',
  customer: 'customer_id',
  meter: 'meter_id',
};

interface LineRow {
  charge_id: string;
  period: string;
  service_period: string;
  type: StatementLine['type'];
  meter_id: string;
  carrier_id: string | null;
  customer_id: string | null;
  register: string | null;
  band: string | null;
  quantity: string;
  unit: string;
  amount_minor: string;
  currency: string;
  estimated: boolean;
  flags: string[];
  correction_of: string | null;
  revision: number;
}

/** Statements: the lines billed in a month for a carrier, a customer or a meter, with totals. */
@Injectable()
export class StatementsRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async statement(subject: StatementSubject, id: string, period: string): Promise<Statement> {
    const [lines, closed] = await Promise.all([
      this.pool.query<LineRow>(
        `SELECT charge_id, period, service_period, type, meter_id, carrier_id, customer_id, register, band,
                quantity::text, unit, amount_minor::text, currency, estimated, flags, correction_of, revision
         FROM billing.charges WHERE ${SUBJECT_COLUMN[subject]} = $1 AND period = $2
         ORDER BY meter_id, type, carrier_id NULLS FIRST, register NULLS FIRST, band NULLS FIRST, service_period, charge_id`,
        [id, period],
      ),
      this.pool.query('SELECT 1 FROM billing.closed_months WHERE period = $1', [period]),
    ]);
    const out: StatementLine[] = lines.rows.map((r) => ({
      chargeId: r.charge_id,
      period: r.period,
      servicePeriod: r.service_period,
      type: r.type,
      meterId: r.meter_id,
      carrierId: r.carrier_id,
      customerId: r.customer_id,
      register: r.register,
      band: r.band,
      quantity: Number(r.quantity),
      unit: r.unit,
      amountMinor: Number(r.amount_minor),
      currency: r.currency,
      estimated: r.estimated,
      flags: r.flags,
      correctionOf: r.correction_of,
      revision: r.revision,
    }));
    const totals = new Map<string, Statement['totals'][number]>();
    const totalMinor: Record<string, number> = {};
    for (const line of out) {
      const key = `${line.currency}|${line.type}`;
      const t = totals.get(key) ?? {
        currency: line.currency,
        type: line.type,
        amountMinor: 0,
        lines: 0,
      };
      t.amountMinor += line.amountMinor;
      t.lines++;
      totals.set(key, t);
      totalMinor[line.currency] = (totalMinor[line.currency] ?? 0) + line.amountMinor;
    }
    return {
      subject,
      id,
      period,
      status: (closed.rowCount ?? 0) > 0 ? 'closed' : 'open',
      lines: out,
      totals: [...totals.values()].sort((a, b) =>
        `${a.currency}|${a.type}`.localeCompare(`${b.currency}|${b.type}`),
      ),
      totalMinor,
    };
  }
}

const CSV_COLUMNS: (keyof StatementLine)[] = [
  'chargeId',
  'period',
  'servicePeriod',
  'type',
  'meterId',
  'carrierId',
  'customerId',
  'register',
  'band',
  'quantity',
  'unit',
  'amountMinor',
  'currency',
  'estimated',
  'flags',
  'correctionOf',
  'revision',
];

function csvField(value: StatementLine[keyof StatementLine]): string {
  const text = Array.isArray(value) ? value.join(';') : value === null ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** RFC 4180 CSV of a statement's lines, with a header row. */
export function statementCsv(statement: Statement): string {
  const rows = [CSV_COLUMNS.join(',')];
  for (const line of statement.lines)
    rows.push(CSV_COLUMNS.map((c) => csvField(line[c])).join(','));
  return `${rows.join('\r\n')}\r\n`;
}
