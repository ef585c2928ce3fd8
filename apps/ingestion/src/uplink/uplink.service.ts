import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  TOPICS,
  parseUplinkTopic,
  stableEventId,
  type FleetMeterRecord,
  type IngestRejectedRecord,
  type RejectReason,
} from '@meterlink/contracts';
import type { FleetView } from '@meterlink/fleet-view';
import { PublicKeyCache } from '@meterlink/jws';
import { jsonRecord, type BatchingProducer, type OutgoingRecord } from '@meterlink/kafka';
import { counter, createLogger, gauge, histogram } from '@meterlink/observability';
import { FLEET_VIEW, INGESTION_CONFIG, PRODUCER } from '../tokens';
import type { IngestionConfig } from '../config';
import { decodeUplink, type DecodeOutcome } from './uplink-decoder';
import { uplinkRecords } from './uplink-records';
import { DedupeRepository } from './dedupe.repository';

const received = counter('ingest_received_total', 'Uplink messages received from MQTT');
const acceptedTotal = counter('ingest_accepted_total', 'Uplink messages accepted into Kafka', [
  'channel',
]);
const rejected = counter(
  'ingest_rejected_total',
  'Uplink messages rejected, by stable reason code',
  ['reason'],
);
const inFlight = gauge(
  'ingest_in_flight',
  'Uplink messages received and not yet acknowledged to the broker',
);
const ackLatency = histogram(
  'ingest_kafka_ack_seconds',
  'MQTT receipt to Kafka acknowledgement of all derived records',
);

export interface UplinkInput {
  topic: string;
  payload: Buffer;
}

interface Fresh {
  index: number;
  key: string;
  outcome: Extract<DecodeOutcome, { ok: true }>;
  correlationId: string;
}

/** ingest_accepted_total, one counter update per channel and batch. */
function countAccepted(accepted: readonly Fresh[]): void {
  let telemetry = 0;
  for (const f of accepted) if (f.outcome.channel === 'telemetry') telemetry++;
  if (telemetry > 0) acceptedTotal.inc({ channel: 'telemetry' }, telemetry);
  if (telemetry === accepted.length) return;
  for (const f of accepted)
    if (f.outcome.channel !== 'telemetry') acceptedTotal.inc({ channel: f.outcome.channel });
}

/** What the MQTT adapter does with the message once processing finished. */
export type UplinkVerdict = 'accepted' | 'rejected' | 'duplicate';

/**
 * The uplink pipeline: decode, authenticate, validate, dedupe, fan out. It resolves only once
 * Kafka holds every record the message produced (or its rejection record), and throws when Kafka
 * is unreachable so that the MQTT acknowledgement is held back and the broker keeps the message.
 */
@Injectable()
export class UplinkService {
  private readonly log = createLogger('UplinkService');
  private readonly keys = new PublicKeyCache();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    @Inject(INGESTION_CONFIG) private readonly config: IngestionConfig,
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    private readonly dedupe: DedupeRepository,
  ) {}

  async process(topic: string, payload: Buffer): Promise<UplinkVerdict> {
    const [verdict] = await this.processBatch([{ topic, payload }]);
    return verdict!;
  }

  /**
   * A batch of messages in one pass: one Redis call to check their seqs, one produce request for
   * all their records, one Redis call to mark them. Per-message work is what dominates at tens of
   * thousands of messages a second, so it is shared wherever the outcome allows. Resolves once
   * every record is in Kafka; throws (and the caller retries the batch) when Kafka or Redis is away.
   */
  async processBatch(inputs: readonly UplinkInput[]): Promise<UplinkVerdict[]> {
    received.inc(inputs.length);
    inFlight.inc(inputs.length);
    const started = process.hrtime.bigint();
    try {
      return await this.processAll(inputs);
    } finally {
      inFlight.dec(inputs.length);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      for (let i = 0; i < inputs.length; i++) ackLatency.observe(seconds);
    }
  }

  private async processAll(inputs: readonly UplinkInput[]): Promise<UplinkVerdict[]> {
    const receivedAt = new Date().toISOString();
    const lookup = (id: string): FleetMeterRecord | undefined => this.fleet.meter(id);
    const outcomes = inputs.map((i) => decodeUplink(i.topic, i.payload, lookup, this.keys));
    // Only an unknown meter waits (for the fleet view to catch up): no promise per message.
    let retries: Promise<void>[] | undefined;
    outcomes.forEach((outcome, i) => {
      if (!outcome.ok && outcome.reason === 'unknown_meter' && outcome.meterId) {
        const meterId = outcome.meterId;
        (retries ??= []).push(
          this.retryUnknownMeter(inputs[i]!, meterId, outcome).then((o) => {
            outcomes[i] = o;
          }),
        );
      }
    });
    if (retries) await Promise.all(retries);

    const verdicts = new Array<UplinkVerdict>(inputs.length);
    const records: OutgoingRecord[] = [];
    const fresh: Fresh[] = [];
    const inBatch = new Set<string>();
    const earlierCopies: Promise<unknown>[] = [];
    // Counted per batch: a labelled counter's lookup per message is measurable at this rate.
    let duplicates = 0;
    outcomes.forEach((outcome, i) => {
      const input = inputs[i]!;
      if (!outcome.ok) {
        verdicts[i] = 'rejected';
        rejected.inc({ reason: outcome.reason });
        records.push(
          this.rejection(
            outcome.reason,
            outcome.detail,
            input,
            receivedAt,
            outcome.meterId,
            outcome.seq,
          ),
        );
        return;
      }
      const key = `${outcome.meterId}:${outcome.message.seq}`;
      // A QoS 1 redelivery can arrive while the first copy is still on its way to Kafka, in this
      // batch or an earlier one; the copy is acknowledged only once the first is in Kafka.
      const running = this.pending.get(key);
      if (inBatch.has(key) || running) {
        verdicts[i] = 'duplicate';
        duplicates++;
        if (running) earlierCopies.push(running.catch(() => undefined));
        return;
      }
      inBatch.add(key);
      fresh.push({ index: i, key, outcome, correlationId: randomUUID() });
    });

    let settle = (): void => undefined;
    const landed = new Promise<void>((resolve) => (settle = resolve));
    for (const f of fresh) this.pending.set(f.key, landed);
    try {
      const statuses = await this.dedupe.checkMany(
        fresh.map((f) => [f.outcome.meterId, f.outcome.message.seq] as const),
      );
      const accepted: Fresh[] = [];
      fresh.forEach((f, k) => {
        const status = statuses[k];
        const { meterId } = f.outcome;
        if (status === 'new') {
          verdicts[f.index] = 'accepted';
          accepted.push(f);
          for (const record of uplinkRecords(f.outcome, {
            meterId,
            receivedAt,
            correlationId: f.correlationId,
            carrierOf: (iccid, plmn) => this.fleet.carrierOf(meterId, iccid, plmn),
          }))
            records.push(record);
          return;
        }
        verdicts[f.index] = 'duplicate';
        // Duplicates are counted, not written: QoS 1 redelivery is normal and would flood the topic.
        const reason: RejectReason = status === 'duplicate' ? 'duplicate' : 'replay_too_old';
        if (reason === 'duplicate') duplicates++;
        else rejected.inc({ reason });
        if (reason === 'replay_too_old') {
          const seq = f.outcome.message.seq;
          records.push(
            this.rejection(
              reason,
              `seq ${seq} is older than the dedupe window`,
              inputs[f.index]!,
              receivedAt,
              meterId,
              seq,
            ),
          );
        }
      });
      await this.producer.send(records);
      await this.dedupe.markMany(
        accepted.map((f) => [f.outcome.meterId, f.outcome.message.seq] as const),
      );
      countAccepted(accepted);
    } finally {
      if (duplicates > 0) rejected.inc({ reason: 'duplicate' }, duplicates);
      for (const f of fresh) if (this.pending.get(f.key) === landed) this.pending.delete(f.key);
      settle();
    }
    await Promise.all(earlierCopies);
    return verdicts;
  }

  /** Dead-letters a message that kept failing for a reason of ours, so it stops holding its connection. */
  async deadLetterUnprocessable(topic: string, payload: Buffer, error: unknown): Promise<void> {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.log.error(
      { err: error, mqttTopic: topic.slice(0, 200) },
      'uplink dead-lettered after repeated failures',
    );
    rejected.inc({ reason: 'processing_failed' });
    // The topic names the sender (the broker's ACL saw to that), so the record is keyed and
    // attributed to the meter even though its payload could not be processed.
    const { meterId } = parseUplinkTopic(topic);
    await this.producer.send([
      this.rejection(
        'processing_failed',
        detail,
        { topic, payload },
        new Date().toISOString(),
        meterId,
      ),
    ]);
  }

  private async retryUnknownMeter(
    input: UplinkInput,
    meterId: string,
    first: DecodeOutcome,
  ): Promise<DecodeOutcome> {
    // The broker only lets provisioned meters in, and the registry publishes the fleet record
    // before provisioning: an unknown meter here is usually a view a few milliseconds behind.
    const deadline = Date.now() + this.config.INGESTION_UNKNOWN_METER_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      if (this.fleet.meter(meterId))
        return decodeUplink(input.topic, input.payload, (id) => this.fleet.meter(id), this.keys);
    }
    return first;
  }

  /** The ingest.rejected.v1 record for a refused message (the caller counts it). */
  private rejection(
    reason: RejectReason,
    detail: string,
    input: UplinkInput,
    receivedAt: string,
    meterId?: string,
    seq?: number,
  ): OutgoingRecord {
    const { topic: mqttTopic, payload } = input;
    const correlationId = randomUUID();
    this.log.info(
      { reason, meterId, correlationId, mqttTopic: mqttTopic.slice(0, 200) },
      'uplink rejected',
    );
    const record: IngestRejectedRecord = {
      // The same bad message redelivered gets the same id, so consumers can drop the copy.
      eventId: stableEventId(
        'rejected',
        mqttTopic,
        createHash('sha256').update(payload).digest('hex'),
      ),
      type: 'ingest.rejected',
      at: receivedAt,
      correlationId,
      reason,
      detail: detail.slice(0, 1024),
      mqttTopic: mqttTopic.slice(0, 1024),
      receivedAt,
      payload: payload.subarray(0, 4096).toString('base64'),
      payloadBytes: payload.length,
      ...(meterId ? { meterId } : {}),
      ...(seq !== undefined && Number.isSafeInteger(seq) && seq >= 0 ? { seq } : {}),
    };
    return jsonRecord(TOPICS.ingestRejected, meterId ?? mqttTopic.slice(0, 256), record);
  }
}
