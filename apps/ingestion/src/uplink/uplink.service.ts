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
import {
  TransientError,
  jsonRecord,
  type BatchingProducer,
  type OutgoingRecord,
} from '@meterlink/kafka';
import { counter, createLogger, gauge, histogram } from '@meterlink/observability';
import { FLEET_VIEW, INGESTION_CONFIG, PRODUCER } from '../tokens';
import type { IngestionConfig } from '../config';
import { decodeUplink, type DecodeOutcome } from './uplink-decoder';
import { uplinkRecords } from './uplink-records';
import { DedupeRepository, type SeqKey } from './dedupe.repository';

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
const claimWaits = counter(
  'ingest_dedupe_claim_waits_total',
  'Looks at an uplink copy held by another writer (another batch or replica) until it is resolved',
);
const ackLatency = histogram(
  'ingest_kafka_ack_seconds',
  'MQTT receipt to Kafka acknowledgement of all derived records',
);

export interface UplinkInput {
  topic: string;
  payload: Buffer;
}

/** Backoff between looks at a copy another writer holds. */
const CLAIM_POLL_MIN_MS = 20;
const CLAIM_POLL_MAX_MS = 1_000;

interface InFlight {
  landed: Promise<void>;
  pair: SeqKey;
}

/** What a batch counts once it is done, so that retried passes do not count twice. */
interface Tally {
  duplicates: number;
  accepted: Fresh[];
  rejected: RejectReason[];
}

interface Fresh {
  index: number;
  key: string;
  outcome: Extract<DecodeOutcome, { ok: true }>;
  correlationId: string;
}

/**
 * A batch's counters, once it is done: a batch retried (Kafka away) is counted once. Updated per
 * label and batch, since a labelled counter's lookup per message is measurable at this rate.
 */
function countOutcomes({ accepted, duplicates, rejected: reasons }: Tally): void {
  if (duplicates > 0) rejected.inc({ reason: 'duplicate' }, duplicates);
  if (reasons.length > 0) {
    const byReason = new Map<RejectReason, number>();
    for (const reason of reasons) byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    for (const [reason, n] of byReason) rejected.inc({ reason }, n);
  }
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
  /** (meterId, seq) being written by a batch of this process, by `meterId:seq`. */
  private readonly pending = new Map<string, InFlight>();
  private readonly renewal: NodeJS.Timeout;
  private stopped = false;
  private readonly seen = new WeakSet<UplinkInput>();

  constructor(
    @Inject(INGESTION_CONFIG) private readonly config: IngestionConfig,
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    private readonly dedupe: DedupeRepository,
  ) {
    // A write held up (Kafka slow or away) keeps its claims: another replica's copy must not be
    // written meanwhile. Renewed well within the lease, which only a dead replica lets lapse.
    this.renewal = setInterval(
      () => void this.renewClaims(),
      Math.max(100, Math.floor(config.INGESTION_DEDUPE_CLAIM_MS / 3)),
    ).unref();
  }

  /** Copies waiting on another writer give up (unacknowledged) instead of holding the shutdown. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.renewal);
  }

  private async renewClaims(): Promise<void> {
    if (this.pending.size === 0) return;
    const pairs = [...this.pending.values()].map((p) => p.pair);
    await this.dedupe.renewMany(pairs).catch((error: unknown) =>
      // Redis away: the write itself fails on markMany and is retried, re-claiming.
      this.log.warn({ err: error, claims: pairs.length }, 'renewing dedupe claims failed'),
    );
  }

  async process(input: UplinkInput): Promise<UplinkVerdict> {
    const [verdict] = await this.processBatch([input]);
    return verdict!;
  }

  /**
   * A batch of messages in one pass: one Redis call to check their seqs, one produce request for
   * all their records, one Redis call to mark them. Per-message work is what dominates at tens of
   * thousands of messages a second, so it is shared wherever the outcome allows. Resolves once
   * every record is in Kafka; throws (and the caller retries the batch) when Kafka or Redis is away.
   */
  async processBatch(inputs: readonly UplinkInput[]): Promise<UplinkVerdict[]> {
    // Attempts at one message (a batch retried, then one by one) count as one message received.
    let fresh = 0;
    for (const input of inputs)
      if (!this.seen.has(input)) {
        this.seen.add(input);
        fresh++;
      }
    if (fresh > 0) received.inc(fresh);
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
    const rejections: OutgoingRecord[] = [];
    let candidates: Fresh[] = [];
    const inBatch = new Set<string>();
    const tally: Tally = { duplicates: 0, accepted: [], rejected: [] };
    outcomes.forEach((outcome, i) => {
      const input = inputs[i]!;
      if (!outcome.ok) {
        verdicts[i] = 'rejected';
        tally.rejected.push(outcome.reason);
        rejections.push(
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
      // A copy within the batch is acknowledged with it, once the first copy is in Kafka.
      if (inBatch.has(key)) {
        verdicts[i] = 'duplicate';
        tally.duplicates++;
        return;
      }
      inBatch.add(key);
      candidates.push({ index: i, key, outcome, correlationId: randomUUID() });
    });

    let waitMs = CLAIM_POLL_MIN_MS;
    candidates = await this.pass(candidates, rejections, inputs, receivedAt, verdicts, tally);
    // Copies another batch of ours, or another replica, is writing: acknowledged only once that
    // copy is in Kafka (then they are duplicates), or written here if that writer gave up.
    while (candidates.length > 0) {
      if (this.stopped) throw new TransientError('ingestion stopping with copies unresolved');
      const local = candidates.flatMap((c) => this.pending.get(c.key)?.landed ?? []);
      await Promise.race([
        new Promise((r) => setTimeout(r, waitMs)),
        ...(local.length > 0 ? [Promise.race(local)] : []),
      ]);
      waitMs = Math.min(CLAIM_POLL_MAX_MS, waitMs * 2);
      claimWaits.inc(candidates.length);
      candidates = await this.pass(candidates, [], inputs, receivedAt, verdicts, tally);
    }
    countOutcomes(tally);
    return verdicts;
  }

  /**
   * Claims the candidates that no batch of this process is writing, writes what is new (with
   * `extra`, the batch's rejection records) in one produce request, and marks it. Returns the
   * candidates still held by another writer.
   */
  private async pass(
    candidates: readonly Fresh[],
    extra: readonly OutgoingRecord[],
    inputs: readonly UplinkInput[],
    receivedAt: string,
    verdicts: UplinkVerdict[],
    tally: Tally,
  ): Promise<Fresh[]> {
    const held: Fresh[] = [];
    const mine: Fresh[] = [];
    for (const c of candidates) (this.pending.has(c.key) ? held : mine).push(c);
    const records: OutgoingRecord[] = [...extra];
    const written: Fresh[] = [];
    // Resolves once the attempt ends, whichever way: copies waiting on it then look again.
    let settle = (): void => undefined;
    const landed = new Promise<void>((resolve) => (settle = resolve));
    for (const f of mine)
      this.pending.set(f.key, { landed, pair: [f.outcome.meterId, f.outcome.message.seq] });
    try {
      const statuses = await this.dedupe.claimMany(
        mine.map((f) => [f.outcome.meterId, f.outcome.message.seq] as const),
      );
      mine.forEach((f, k) => {
        const status = statuses[k] ?? 'new';
        const { meterId } = f.outcome;
        switch (status) {
          case 'new':
            verdicts[f.index] = 'accepted';
            written.push(f);
            for (const record of uplinkRecords(f.outcome, {
              meterId,
              receivedAt,
              correlationId: f.correlationId,
              carrierOf: (iccid, plmn) => this.fleet.carrierOf(meterId, iccid, plmn),
            }))
              records.push(record);
            return;
          case 'claimed':
            held.push(f);
            return;
          case 'duplicate':
            // Counted, not written: QoS 1 redelivery is normal and would flood the topic.
            verdicts[f.index] = 'duplicate';
            tally.duplicates++;
            return;
          case 'too_old': {
            verdicts[f.index] = 'duplicate';
            tally.rejected.push('replay_too_old');
            const seq = f.outcome.message.seq;
            records.push(
              this.rejection(
                'replay_too_old',
                `seq ${seq} is older than the dedupe window`,
                inputs[f.index]!,
                receivedAt,
                meterId,
                seq,
              ),
            );
          }
        }
      });
      if (records.length > 0) await this.producer.send(records);
      await this.dedupe.markMany(
        written.map((f) => [f.outcome.meterId, f.outcome.message.seq] as const),
      );
      for (const f of written) tally.accepted.push(f);
    } finally {
      for (const f of mine)
        if (this.pending.get(f.key)?.landed === landed) this.pending.delete(f.key);
      settle();
    }
    return held;
  }

  /** Dead-letters a message that kept failing for a reason of ours, so it stops holding its connection. */
  async deadLetterUnprocessable(topic: string, payload: Buffer, error: unknown): Promise<void> {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.log.error(
      { err: error, mqttTopic: topic.slice(0, 200) },
      'uplink dead-lettered after repeated failures',
    );
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
    rejected.inc({ reason: 'processing_failed' });
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
