import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterReadingRecord } from '@meterlink/contracts';
import type { ConsumedBatch } from '@meterlink/kafka';
import { counter } from '@meterlink/observability';
import { LedgerBatch } from '../ledger-batch';

const stored = counter(
  'billing_readings_stored_total',
  'Readings stored for billing (duplicates excluded)',
);

@Controller()
export class RecordReadingsConsumer {
  constructor(private readonly ledger: LedgerBatch) {}

  @EventPattern(TOPICS.meterReadings.name)
  async onReadings(@Payload() batch: ConsumedBatch<MeterReadingRecord>): Promise<void> {
    await this.ledger.apply(batch, async (client, records) => {
      const rows = records.map(({ value: r }) => ({
        meter_id: r.meterId,
        register: r.register,
        at: r.at,
        value: r.value,
        kind: r.kind,
        seq: r.seq,
        received_at: r.receivedAt,
      }));
      const { rowCount } = await client.query(
        `INSERT INTO billing.readings (meter_id, register, at, value, kind, seq, received_at)
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(meter_id text, register text, at timestamptz, value bigint, kind text, seq bigint, received_at timestamptz)
         ON CONFLICT (meter_id, register, at) DO NOTHING`,
        [JSON.stringify(rows)],
      );
      stored.inc(rowCount ?? 0);
    });
  }
}
