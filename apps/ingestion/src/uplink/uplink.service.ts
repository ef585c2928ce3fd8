import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  TOPICS,
  stableEventId,
  type IngestRejectedRecord,
  type RejectReason,
} from '@meterlink/contracts';
import type { FleetView } from '@meterlink/fleet-view';
import { PublicKeyCache } from '@meterlink/jws';
import { jsonRecord, type BatchingProducer } from '@meterlink/kafka';
import { counter, createLogger, gauge, histogram, withCorrelation } from '@meterlink/observability';
import { FLEET_VIEW, INGESTION_CONFIG, PRODUCER } from '../tokens';
import type { IngestionConfig } from '../config';
import { decodeUplink, type DecodeOutcome } from './uplink-decoder';
import { uplinkRecords } from './uplink-records';
import { DedupeRepository } from './dedupe.repository';

const received = counter('ingest_received_total', 'Uplink messages received from MQTT');
const accepted = counter('ingest_accepted_total', 'Uplink messages accepted into Kafka', [
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
  private readonly pending = new Map<string, Promise<UplinkVerdict>>();

  constructor(
    @Inject(INGESTION_CONFIG) private readonly config: IngestionConfig,
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    private readonly dedupe: DedupeRepository,
  ) {}

  async process(topic: string, payload: Buffer): Promise<UplinkVerdict> {
    received.inc();
    inFlight.inc();
    const started = process.hrtime.bigint();
    const correlationId = randomUUID();
    try {
      return await withCorrelation(correlationId, () =>
        this.processOne(topic, payload, correlationId),
      );
    } finally {
      inFlight.dec();
      ackLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async processOne(
    topic: string,
    payload: Buffer,
    correlationId: string,
  ): Promise<UplinkVerdict> {
    const receivedAt = new Date().toISOString();
    let outcome = decodeUplink(topic, payload, (id) => this.fleet.meter(id), this.keys);
    if (!outcome.ok && outcome.reason === 'unknown_meter' && outcome.meterId) {
      outcome = await this.retryUnknownMeter(topic, payload, outcome.meterId, outcome);
    }
    if (!outcome.ok) {
      await this.reject(
        outcome.reason,
        outcome.detail,
        topic,
        payload,
        receivedAt,
        correlationId,
        outcome.meterId,
        outcome.seq,
      );
      return 'rejected';
    }
    const { meterId } = outcome;
    const seq = outcome.message.seq;
    const key = `${meterId}:${seq}`;
    // A QoS 1 redelivery can arrive while the first copy is still on its way to Kafka.
    const running = this.pending.get(key);
    if (running) {
      await running;
      rejected.inc({ reason: 'duplicate' });
      return 'duplicate';
    }
    const work = (async (): Promise<UplinkVerdict> => {
      const status = await this.dedupe.check(meterId, seq);
      if (status !== 'new') {
        const reason: RejectReason = status === 'duplicate' ? 'duplicate' : 'replay_too_old';
        // Duplicates are counted, not written: QoS 1 redelivery is normal and would flood the topic.
        rejected.inc({ reason });
        if (reason === 'replay_too_old') {
          await this.reject(
            reason,
            `seq ${seq} is older than the dedupe window`,
            topic,
            payload,
            receivedAt,
            correlationId,
            meterId,
            seq,
            false,
          );
        }
        return 'duplicate';
      }
      const records = uplinkRecords(outcome, {
        meterId,
        receivedAt,
        correlationId,
        carrierOf: (iccid, plmn) => this.fleet.carrierOf(meterId, iccid, plmn),
      });
      await this.producer.send(records);
      await this.dedupe.mark(meterId, seq);
      accepted.inc({ channel: outcome.channel });
      return 'accepted';
    })();
    this.pending.set(key, work);
    try {
      return await work;
    } finally {
      this.pending.delete(key);
    }
  }

  /** Dead-letters a message that kept failing for a reason of ours, so it stops holding its connection. */
  async deadLetterUnprocessable(topic: string, payload: Buffer, error: unknown): Promise<void> {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.log.error(
      { err: error, mqttTopic: topic.slice(0, 200) },
      'uplink dead-lettered after repeated failures',
    );
    await this.reject(
      'processing_failed',
      detail,
      topic,
      payload,
      new Date().toISOString(),
      randomUUID(),
    );
  }

  private async retryUnknownMeter(
    topic: string,
    payload: Buffer,
    meterId: string,
    first: DecodeOutcome,
  ): Promise<DecodeOutcome> {
    // The broker only lets provisioned meters in, and the registry publishes the fleet record
    // before provisioning: an unknown meter here is usually a view a few milliseconds behind.
    const deadline = Date.now() + this.config.INGESTION_UNKNOWN_METER_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      if (this.fleet.meter(meterId))
        return decodeUplink(topic, payload, (id) => this.fleet.meter(id), this.keys);
    }
    return first;
  }

  private async reject(
    reason: RejectReason,
    detail: string,
    mqttTopic: string,
    payload: Buffer,
    receivedAt: string,
    correlationId: string,
    meterId?: string,
    seq?: number,
    count = true,
  ): Promise<void> {
    if (count) rejected.inc({ reason });
    this.log.info({ reason, meterId, mqttTopic: mqttTopic.slice(0, 200) }, 'uplink rejected');
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
    await this.producer.send([
      jsonRecord(TOPICS.ingestRejected, meterId ?? mqttTopic.slice(0, 256), record),
    ]);
  }
}
