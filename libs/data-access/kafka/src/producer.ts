import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka } from 'kafkajs';
import {
  HEADER_CORRELATION_ID,
  HEADER_EVENT_TYPE,
  type TopicDefinition,
} from '@meterlink/contracts';
import { counter, createLogger, histogram } from '@meterlink/observability';
import {
  KafkajsSender,
  PlatformaticSender,
  type KafkaClientKind,
  type RecordSender,
  type SenderRecord,
} from './sender';

export interface OutgoingRecord {
  topic: string;
  key: string;
  value: Buffer | string;
  headers?: IHeaders;
}

export interface BatchingProducerOptions {
  /** How long a record may wait for others to share its request (kafkajs has no linger). */
  lingerMs: number;
  /** Records per request at most. */
  maxBatchRecords: number;
  /** Concurrent requests in flight; the idempotent producer keeps per-partition order. */
  maxInFlightBatches: number;
  /** Backoff ceiling while Kafka is unreachable. */
  maxRetryDelayMs: number;
  /**
   * While no request went out for this long, a metadata round trip checks the cluster, so that
   * an idle service's readiness still follows Kafka (and comes back with it). 0: never.
   */
  idleProbeMs: number;
}

const DEFAULTS: BatchingProducerOptions = {
  lingerMs: 5,
  maxBatchRecords: 2_000,
  maxInFlightBatches: 1,
  maxRetryDelayMs: 5_000,
  idleProbeMs: 5_000,
};

interface Pending {
  records: OutgoingRecord[];
  resolve: () => void;
  reject: (error: Error) => void;
}

const sendLatency = histogram(
  'kafka_produce_latency_seconds',
  'Time from enqueue to Kafka acknowledgement',
  ['topic'],
);
const sendFailures = counter(
  'kafka_produce_failures_total',
  'Produce requests that failed and were retried',
);

/**
 * An idempotent (acks=all) producer that batches records from many callers into few requests and
 * retries a failed request until Kafka takes it or the producer is stopped. The promise a caller
 * gets resolves only once every one of its records is acknowledged, which is what lets ingestion
 * hold the MQTT acknowledgement until then.
 */
export class BatchingProducer {
  private readonly sender: RecordSender;
  private readonly options: BatchingProducerOptions;
  private queue: Pending[] = [];
  private queuedRecords = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private stopped = false;
  private connected = false;
  /** The last request failed and is being retried: Kafka is away even if no socket said so. */
  private failing = false;
  private lastAnswerAt = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly log = createLogger('BatchingProducer');

  constructor(
    kafka: Kafka,
    options: Partial<BatchingProducerOptions> = {},
    sender: RecordSender = new KafkajsSender(kafka),
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.sender = sender;
    this.sender.onDisconnect(() => (this.connected = false));
  }

  async connect(): Promise<void> {
    await this.sender.connect();
    this.connected = true;
    this.lastAnswerAt = Date.now();
    if (this.options.idleProbeMs > 0) this.scheduleProbe();
  }

  private scheduleProbe(): void {
    this.probeTimer = setTimeout(() => {
      void this.probeIfIdle().finally(() => {
        if (!this.stopped) this.scheduleProbe();
      });
    }, this.options.idleProbeMs);
    this.probeTimer.unref();
  }

  /** Requests in flight say whether Kafka answers; with none for a while, a probe asks. */
  private async probeIfIdle(): Promise<void> {
    if (this.stopped || this.inFlight > 0) return;
    if (Date.now() - this.lastAnswerAt < this.options.idleProbeMs / 2) return;
    const timeoutMs = this.options.idleProbeMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.sender.probe(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      if (!this.connected || this.failing) this.log.info('Kafka answers again');
      this.connected = true;
      this.failing = false;
      this.lastAnswerAt = Date.now();
    } catch (error) {
      if (this.connected) this.log.warn({ err: error }, 'Kafka does not answer the idle probe');
      this.connected = false;
    } finally {
      clearTimeout(timer);
    }
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Connected, and the last produce request succeeded: what readiness should report. */
  isHealthy(): boolean {
    return this.connected && !this.failing;
  }

  /** Records waiting or in flight: callers use it for backpressure. */
  pendingRecords(): number {
    return this.queuedRecords;
  }

  send(records: OutgoingRecord[]): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('producer stopped'));
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      this.queuedRecords += records.length;
      if (this.queuedRecords >= this.options.maxBatchRecords) this.flushSoon(0);
      else this.flushSoon(this.options.lingerMs);
    });
  }

  private flushSoon(delay: number): void {
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delay);
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlightBatches) {
      const batch: Pending[] = [];
      let count = 0;
      while (
        this.queue.length > 0 &&
        (count === 0 || count + this.queue[0]!.records.length <= this.options.maxBatchRecords)
      ) {
        const next = this.queue.shift()!;
        batch.push(next);
        count += next.records.length;
      }
      this.inFlight++;
      void this.sendWithRetry(batch, count).finally(() => {
        this.inFlight--;
        this.queuedRecords -= count;
        if (this.queue.length > 0) this.flushSoon(0);
      });
    }
  }

  private async sendWithRetry(batch: Pending[], count: number): Promise<void> {
    const started = process.hrtime.bigint();
    const byTopic = new Map<string, SenderRecord[]>();
    for (const pending of batch) {
      for (const r of pending.records) {
        let list = byTopic.get(r.topic);
        if (!list) byTopic.set(r.topic, (list = []));
        // The record itself: it has every field a SenderRecord has (no copy per record).
        list.push(r);
      }
    }
    let attempt = 0;
    for (;;) {
      try {
        await this.sender.send(byTopic);
        this.connected = true;
        this.failing = false;
        this.lastAnswerAt = Date.now();
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        for (const topic of byTopic.keys()) sendLatency.observe({ topic }, seconds);
        batch.forEach((p) => p.resolve());
        return;
      } catch (error) {
        sendFailures.inc();
        this.failing = true;
        if (this.stopped) {
          const failure = error instanceof Error ? error : new Error(String(error));
          batch.forEach((p) => p.reject(failure));
          return;
        }
        attempt++;
        const delay = Math.min(this.options.maxRetryDelayMs, 100 * 2 ** Math.min(attempt, 10));
        this.log.warn(
          { err: error, attempt, records: count, delayMs: delay },
          'produce failed; retrying',
        );
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Sends what is queued (waiting for acknowledgements), then disconnects. */
  async stop(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flush();
    while ((this.queuedRecords > 0 || this.inFlight > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.stopped = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    const abandoned = this.queue.splice(0);
    abandoned.forEach((p) => p.reject(new Error('producer stopped')));
    await this.sender.disconnect();
  }
}

/** Readiness of a service's producer: down while disconnected or while its requests fail. */
export function producerHealth(producer: BatchingProducer): { ok: boolean; detail?: string } {
  return producer.isHealthy()
    ? { ok: true }
    : { ok: false, detail: 'producer disconnected or its requests failing' };
}

/** Builds a JSON record for a contract topic, with the envelope headers. */
export function jsonRecord<
  T extends { eventId: string; type: string; correlationId?: string | undefined },
>(topic: TopicDefinition, key: string, value: T): OutgoingRecord {
  const headers: IHeaders = { [HEADER_EVENT_TYPE]: value.type };
  if (value.correlationId) headers[HEADER_CORRELATION_ID] = value.correlationId;
  return { topic: topic.name, key, value: JSON.stringify(value), headers };
}

/**
 * The same record as jsonRecord, from JSON text its caller already wrote (a hot path that builds
 * the text directly instead of an object and JSON.stringify) and headers it built. The text is
 * encoded right away: a Buffer waits for the produce request more cheaply than a string that
 * concatenation built out of many pieces.
 */
export function jsonTextRecord(
  topic: TopicDefinition,
  key: string,
  json: string,
  headers: IHeaders,
): OutgoingRecord {
  return { topic: topic.name, key, value: Buffer.from(json, 'utf8'), headers };
}

export const newEventId = (): string => randomUUID();

export interface KafkaClients {
  kafka: Kafka;
  producer: BatchingProducer;
}

/**
 * One Kafka client and one producer per process, made on first use from the validated config:
 * a service's module and its Kafka transport share them.
 */
export function kafkaClientsOnce<C>(
  options: (config: C) => {
    brokers: string[];
    clientId: string;
    producer?: Partial<BatchingProducerOptions>;
    /** The client under the producer (consumers always use kafkajs). */
    producerClient?: KafkaClientKind;
  },
  createKafkaClient: (brokers: string[], clientId: string) => Kafka,
): (config: C) => KafkaClients {
  let clients: KafkaClients | undefined;
  return (config) => {
    if (!clients) {
      const { brokers, clientId, producer, producerClient } = options(config);
      const kafka = createKafkaClient(brokers, clientId);
      const sender =
        producerClient === 'platformatic'
          ? new PlatformaticSender(brokers, clientId)
          : new KafkajsSender(kafka);
      clients = { kafka, producer: new BatchingProducer(kafka, producer, sender) };
    }
    return clients;
  };
}
