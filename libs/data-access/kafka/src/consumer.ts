import type { Consumer, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import {
  ALL_TOPICS,
  HEADER_CORRELATION_ID,
  TOPICS,
  stableEventId,
  type DeadLetterRecord,
  type TopicDefinition,
} from '@meterlink/contracts';
import { counter, createLogger, gauge, withCorrelation } from '@meterlink/observability';
import { isTransient } from './client';
import { jsonRecord, type BatchingProducer } from './producer';

export interface ConsumedRecord<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: T;
  headers: IHeaders;
  correlationId: string | undefined;
  timestamp: string;
}

export interface ConsumedBatch<T = unknown> {
  topic: string;
  partition: number;
  records: ConsumedRecord<T>[];
  /**
   * With a column decoder for the topic (BatchConsumerOptions.columns): the accepted records in
   * the decoder's columns, offset order. `records` is then built on first use only (the same
   * records as without the decoder).
   */
  columns?: unknown;
}

export type BatchHandler = (batch: ConsumedBatch) => Promise<void>;

export interface BatchConsumerOptions {
  groupId: string;
  topics: string[];
  handler: BatchHandler;
  /** For groups without committed offsets. */
  fromBeginning?: boolean;
  /** Attempts for a failing non-transient handler before its records are dead-lettered. */
  maxAttempts?: number;
  /** Where undecodable and poison records go; required unless the consumer only reads. */
  deadLetterProducer?: BatchingProducer;
  /** When false, offsets are never committed (local views replayed on every start). */
  commit?: boolean;
  sessionTimeoutMs?: number;
  maxBytesPerPartition?: number;
  /**
   * Per topic, a cheaper check run on the parsed JSON before the topic's zod schema. It must
   * return true only for a value the schema certainly accepts and would return unchanged (no
   * unknown keys, defaults or transforms): that value is then used as it is, without zod's copy.
   * Anything else (false) goes through the schema as before, so rejections, their reason and
   * detail are the schema's. For hot topics, where zod's per-record cost counts.
   */
  fastPaths?: Readonly<Record<string, FastPath>>;
  /**
   * Per topic, a decoder that takes each record straight into columns of its own (the handler's
   * `batch.columns`) instead of a ConsumedRecord with a parsed value per record. `addRaw` must
   * take a record only when the topic's schema certainly accepts its JSON and returns it
   * unchanged; any other record (false) is decoded as without the decoder (JSON, fast path,
   * schema): rejected ones are dead-lettered with the same reason and detail, accepted ones are
   * passed to `add`. For hot topics whose handler needs neither headers nor keys.
   */
  columns?: Readonly<Record<string, ColumnDecoder>>;
}

/** See BatchConsumerOptions.fastPaths. */
export type FastPath = (json: unknown) => boolean;

/** See BatchConsumerOptions.columns. */
export interface ColumnDecoder<C = unknown> {
  /** A batch's empty columns. */
  create(): C;
  /** Takes the record in when it is what the schema accepts unchanged; false: not taken. */
  addRaw(columns: C, value: Buffer, offset: string): boolean;
  /** Takes in a record the schema accepted. */
  add(columns: C, value: unknown, offset: string): void;
}

const consumed = counter('kafka_consumed_total', 'Records consumed', ['group', 'topic']);
const deadLettered = counter('kafka_dead_lettered_total', 'Records sent to deadletter.v1', [
  'group',
  'topic',
  'reason',
]);
const retries = counter(
  'kafka_handler_retries_total',
  'Handler attempts that failed and were retried',
  ['group', 'topic', 'kind'],
);
const lag = gauge('kafka_consumer_lag', 'High watermark minus the last consumed offset', [
  'group',
  'topic',
  'partition',
]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * kafkajs consumer with `eachBatch`, explicit commits after the handler succeeds, decoding against
 * the topic's contract schema, dead-lettering of undecodable and poison records, and unbounded
 * retry with backoff while a dependency is away (so a partition is never skipped, nor stuck on one
 * bad record).
 */
export class BatchConsumer {
  private readonly consumer: Consumer;
  private readonly log = createLogger('BatchConsumer');
  private readonly topicDefs = new Map<string, TopicDefinition>();
  private running = false;
  private stopping = false;
  private readonly caughtUp = new Map<string, string>();

  constructor(
    private readonly kafka: Kafka,
    private readonly options: BatchConsumerOptions,
  ) {
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1_048_576,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    });
    for (const name of options.topics) {
      const def = ALL_TOPICS.find((t) => t.name === name);
      if (!def) throw new Error(`topic ${name} is not in the contracts`);
      this.topicDefs.set(name, def);
    }
  }

  isRunning(): boolean {
    return this.running;
  }

  /**
   * Gives every partition the group has no committed offset for one: its current end. Without
   * this, a partition that carried nothing while the group ran keeps no offset, and after a
   * restart the group starts it at its end again, skipping whatever was written to it while the
   * service was down (an esipa result, a coverage event). Pinning at the first start keeps the
   * "start at the end" semantics of a new group and removes that gap. Kafka refuses to set
   * offsets of a group with live members: then another replica is running, and its start did it.
   */
  private async pinUncommittedPartitions(): Promise<void> {
    // A broker that has just started answers "coordinator loading" / "not the coordinator" for a
    // while: retried here. If it still fails, the service starts anyway (with the old gap) rather
    // than not at all.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.pinOnce();
        return;
      } catch (error) {
        const retriable = (error as { retriable?: boolean }).retriable === true;
        if (!retriable || attempt >= 40) {
          this.log.warn(
            { err: error, group: this.options.groupId, attempt },
            'could not pin partitions without a committed offset; starting without',
          );
          return;
        }
        await sleep(Math.min(250 * attempt, 1_000));
      }
    }
  }

  private async pinOnce(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const committed = await admin.fetchOffsets({
        groupId: this.options.groupId,
        topics: this.options.topics,
      });
      for (const { topic, partitions } of committed) {
        const missing = new Set(
          partitions.filter((p) => p.offset === '-1').map((p) => p.partition),
        );
        if (missing.size === 0) continue;
        const ends = (await admin.fetchTopicOffsets(topic)).filter((p) => missing.has(p.partition));
        try {
          await admin.setOffsets({
            groupId: this.options.groupId,
            topic,
            partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })),
          });
          this.log.info(
            { group: this.options.groupId, topic, partitions: ends.length },
            'pinned partitions without a committed offset at their end',
          );
        } catch (error) {
          if ((error as { retriable?: boolean }).retriable === true) throw error;
          this.log.info(
            { err: error, group: this.options.groupId, topic },
            'group has live members; partitions left to them',
          );
        }
      }
    } finally {
      await admin.disconnect();
    }
  }

  async start(): Promise<void> {
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      this.running = false;
      this.log.error(
        { err: event.payload.error, restart: event.payload.restart },
        'consumer crashed',
      );
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => (this.running = true));
    if (this.options.commit !== false && !this.options.fromBeginning)
      await this.pinUncommittedPartitions();
    await this.consumer.connect();
    await this.consumer.subscribe({
      topics: this.options.topics,
      fromBeginning: this.options.fromBeginning ?? false,
    });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const heartbeat = (): Promise<void> => payload.heartbeat();
        const isRunning = (): boolean => payload.isRunning();
        const isStale = (): boolean => payload.isStale();
        const group = this.options.groupId;
        const def = this.topicDefs.get(batch.topic)!;
        const fastPath = this.options.fastPaths?.[batch.topic];
        const columnDecoder = this.options.columns?.[batch.topic];
        const rejected: {
          message: KafkaMessage;
          reason: DeadLetterRecord['reason'];
          detail: string;
        }[] = [];
        let consumedBatch: ConsumedBatch | undefined;
        if (columnDecoder) {
          const columns = columnDecoder.create();
          const accepted: KafkaMessage[] = [];
          for (const message of batch.messages) {
            if (message.value && columnDecoder.addRaw(columns, message.value, message.offset)) {
              accepted.push(message);
              continue;
            }
            const result = decodeMessage(def, message, batch.topic, batch.partition, fastPath);
            if (result.ok) {
              columnDecoder.add(columns, result.record.value, message.offset);
              accepted.push(message);
            } else rejected.push({ message, reason: result.reason, detail: result.detail });
          }
          if (accepted.length > 0)
            consumedBatch = lazyRecords(batch.topic, batch.partition, columns, () =>
              accepted.map((message) => {
                const result = decodeMessage(def, message, batch.topic, batch.partition, fastPath);
                // Accepted above, and decoding is deterministic.
                if (!result.ok) throw new Error(`record ${message.offset} no longer decodes`);
                return result.record;
              }),
            );
        } else {
          const decoded: ConsumedRecord<unknown>[] = [];
          for (const message of batch.messages) {
            const result = decodeMessage(def, message, batch.topic, batch.partition, fastPath);
            if (result.ok) decoded.push(result.record);
            else rejected.push({ message, reason: result.reason, detail: result.detail });
          }
          if (decoded.length > 0)
            consumedBatch = { topic: batch.topic, partition: batch.partition, records: decoded };
        }
        consumed.inc({ group, topic: batch.topic }, batch.messages.length);
        if (rejected.length > 0) await this.deadLetter(batch.topic, batch.partition, rejected);
        if (consumedBatch) {
          await this.handleWithRetry(consumedBatch, heartbeat, () => isRunning() && !isStale());
        }
        if (!isRunning() || isStale()) return;
        const last = batch.messages.at(-1);
        if (last) {
          const next = (BigInt(last.offset) + 1n).toString();
          // kafkajs fetches from the last resolved offset: without this, the same batch comes back.
          payload.resolveOffset(last.offset);
          if (this.options.commit !== false) {
            await this.consumer.commitOffsets([
              { topic: batch.topic, partition: batch.partition, offset: next },
            ]);
          }
          this.caughtUp.set(`${batch.topic}:${batch.partition}`, next);
          lag.set(
            { group, topic: batch.topic, partition: String(batch.partition) },
            Number(BigInt(batch.highWatermark) - BigInt(next)),
          );
        }
        await heartbeat();
      },
    });
  }

  /** Next offset to read per `topic:partition` that this consumer has processed. */
  positions(): ReadonlyMap<string, string> {
    return this.caughtUp;
  }

  private async handleWithRetry(
    batch: ConsumedBatch,
    heartbeat: () => Promise<void>,
    alive: () => boolean,
  ): Promise<void> {
    const group = this.options.groupId;
    const maxAttempts = this.options.maxAttempts ?? 3;
    let attempt = 0;
    for (;;) {
      try {
        await this.options.handler(batch);
        return;
      } catch (error) {
        if (!alive() || this.stopping) throw error;
        attempt++;
        if (isTransient(error)) {
          retries.inc({ group, topic: batch.topic, kind: 'transient' });
          const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
          this.log.warn(
            { err: error, topic: batch.topic, partition: batch.partition, attempt, delayMs: delay },
            'dependency unavailable; retrying batch',
          );
          await sleep(delay);
          await heartbeat();
          continue;
        }
        retries.inc({ group, topic: batch.topic, kind: 'error' });
        if (attempt < maxAttempts) {
          this.log.warn(
            { err: error, topic: batch.topic, partition: batch.partition, attempt },
            'handler failed; retrying batch',
          );
          await sleep(50 * attempt);
          continue;
        }
        // Isolate the poison record(s): replay one by one, dead-letter those that still fail.
        await this.isolatePoison(batch, heartbeat, alive);
        return;
      }
    }
  }

  private async isolatePoison(
    batch: ConsumedBatch,
    heartbeat: () => Promise<void>,
    alive: () => boolean,
  ): Promise<void> {
    for (const record of batch.records) {
      const single: ConsumedBatch = {
        topic: batch.topic,
        partition: batch.partition,
        records: [record],
      };
      let attempt = 0;
      for (;;) {
        try {
          await this.options.handler(single);
          break;
        } catch (error) {
          if (!alive() || this.stopping) throw error;
          attempt++;
          if (isTransient(error)) {
            await sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)));
            await heartbeat();
            continue;
          }
          if (attempt < 2) continue;
          this.log.error(
            { err: error, topic: batch.topic, partition: batch.partition, offset: record.offset },
            'record dead-lettered after repeated handler failure',
          );
          await this.deadLetter(batch.topic, batch.partition, [
            {
              message: {
                offset: record.offset,
                key: record.key === null ? null : Buffer.from(record.key),
                value: Buffer.from(JSON.stringify(record.value)),
                timestamp: record.timestamp,
                attributes: 0,
                headers: record.headers,
              },
              reason: 'handler_failed',
              detail: error instanceof Error ? error.message : String(error),
            },
          ]);
          break;
        }
      }
    }
  }

  private async deadLetter(
    topic: string,
    partition: number,
    items: { message: KafkaMessage; reason: DeadLetterRecord['reason']; detail: string }[],
  ): Promise<void> {
    const producer = this.options.deadLetterProducer;
    const group = this.options.groupId;
    for (const item of items) deadLettered.inc({ group, topic, reason: item.reason });
    if (!producer) {
      this.log.error(
        { topic, partition, count: items.length },
        'records could not be decoded and no dead-letter producer is set; counted only',
      );
      return;
    }
    await producer.send(
      items.map(({ message, reason, detail }) => {
        const record: DeadLetterRecord = {
          eventId: stableEventId('deadletter', group, topic, partition, message.offset),
          type: 'deadletter',
          at: new Date().toISOString(),
          reason,
          detail: detail.slice(0, 2048),
          consumerGroup: group,
          sourceTopic: topic,
          sourcePartition: partition,
          sourceOffset: message.offset,
          key: message.key?.toString('utf8') ?? null,
          value: (message.value ?? Buffer.alloc(0)).subarray(0, 4096).toString('base64'),
        };
        return jsonRecord(TOPICS.deadLetter, topic, record);
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer.disconnect();
    this.running = false;
  }
}

/** A batch with columns whose records are decoded when first asked for (poison isolation). */
function lazyRecords(
  topic: string,
  partition: number,
  columns: unknown,
  decode: () => ConsumedRecord<unknown>[],
): ConsumedBatch {
  let records: ConsumedRecord<unknown>[] | undefined;
  return {
    topic,
    partition,
    columns,
    get records(): ConsumedRecord<unknown>[] {
      return (records ??= decode());
    },
  };
}

type DecodeResult =
  | { ok: true; record: ConsumedRecord<unknown> }
  | { ok: false; reason: 'undecodable' | 'schema_violation'; detail: string };

function headerString(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

/** Exported for tests only. */
export function decodeMessage(
  def: TopicDefinition,
  message: KafkaMessage,
  topic: string,
  partition: number,
  fastPath?: FastPath,
): DecodeResult {
  if (!message.value) return { ok: false, reason: 'undecodable', detail: 'empty value' };
  let json: unknown;
  try {
    json = JSON.parse(message.value.toString('utf8'));
  } catch (error) {
    return {
      ok: false,
      reason: 'undecodable',
      detail: error instanceof Error ? error.message : 'invalid JSON',
    };
  }
  // The record is built here in one go (not spread into another object later): one allocation
  // fewer per record on the hottest path.
  if (fastPath?.(json) === true)
    return { ok: true, record: consumedRecord(message, json, topic, partition) };
  const parsed = def.schema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      reason: 'schema_violation',
      detail: parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; '),
    };
  }
  return { ok: true, record: consumedRecord(message, parsed.data, topic, partition) };
}

function consumedRecord(
  message: KafkaMessage,
  value: unknown,
  topic: string,
  partition: number,
): ConsumedRecord<unknown> {
  const headers = message.headers ?? {};
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString('utf8') ?? null,
    value,
    headers,
    correlationId: headerString(headers, HEADER_CORRELATION_ID),
    timestamp: message.timestamp,
  };
}

/** Runs fn for each record with that record's correlation id in the log context. */
export async function forEachRecord<T>(
  batch: ConsumedBatch<T>,
  fn: (record: ConsumedRecord<T>) => Promise<void>,
): Promise<void> {
  for (const record of batch.records) {
    await withCorrelation(record.correlationId, () => fn(record));
  }
}
