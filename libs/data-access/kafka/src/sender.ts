import type { Admin, IHeaders, Kafka, Producer } from 'kafkajs';
import { CompressionTypes } from 'kafkajs';

/** One record for a produce request, already grouped by topic by the caller. */
export interface SenderRecord {
  key: string;
  value: Buffer | string;
  headers?: IHeaders;
}

/**
 * The Kafka client under BatchingProducer: one produce request with every record (acks=all,
 * idempotent), resolved when the broker acknowledged all of it. Two implementations, so the
 * client can be chosen by measurement: kafkajs and @platformatic/kafka (ingestion's default since
 * it measured ~40 % less CPU per record; docs/benchmarks.md).
 */
export interface RecordSender {
  connect(): Promise<void>;
  send(byTopic: Map<string, SenderRecord[]>): Promise<void>;
  disconnect(): Promise<void>;
  /** False once the client knows it lost its connection (kafkajs says so; others may not). */
  onDisconnect(listener: () => void): void;
  /** One cheap round trip to the cluster (metadata): resolves once a broker answered. */
  probe(): Promise<void>;
}

export type KafkaClientKind = 'kafkajs' | 'platformatic';

export class KafkajsSender implements RecordSender {
  private readonly producer: Producer;
  private admin: Admin | undefined;

  constructor(private readonly kafka: Kafka) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  async send(byTopic: Map<string, SenderRecord[]>): Promise<void> {
    await this.producer.sendBatch({
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      acks: -1,
      compression: CompressionTypes.None,
      timeout: 30_000,
    });
  }

  async disconnect(): Promise<void> {
    await this.admin?.disconnect();
    await this.producer.disconnect();
  }

  onDisconnect(listener: () => void): void {
    this.producer.on(this.producer.events.DISCONNECT, listener);
  }

  async probe(): Promise<void> {
    // kafkajs's producer has no metadata call of its own; an admin client on the same brokers does.
    this.admin ??= this.kafka.admin({ retry: { retries: 0 } });
    await this.admin.connect();
    await this.admin.describeCluster();
  }
}

type PlatformaticModule = typeof import('@platformatic/kafka');
type PlatformaticProducer = InstanceType<PlatformaticModule['Producer']>;

// kafkajs ships no types for its murmur2; it is the Java client's hash.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (
  key: Buffer | string,
) => number;

/**
 * The partition of a key as the Java client and kafkajs's default partitioner compute it:
 * murmur2 with the sign bit masked (the result is then taken modulo the partition count).
 * @platformatic/kafka's own default uses `>>> 0` instead of the mask and so puts about half of
 * all keys on another partition, which would reorder a meter's records whenever the client
 * changes and split the partition→meter mapping the coverage monitor relies on.
 */
export function javaCompatiblePartition(key: Buffer | string): number {
  return murmur2(key) & 0x7fffffff;
}

/**
 * The headers as @platformatic/kafka takes them: string and Buffer values as they are (the
 * client makes its own Map of them), anything else as kafkajs-style headers were sent before
 * (undefined left out, other values as strings).
 */
function headersOf(headers: IHeaders | undefined): IHeaders | Map<string, string> | undefined {
  if (!headers) return undefined;
  let plain = true;
  for (const k in headers) {
    const v = headers[k];
    if (typeof v !== 'string' && !Buffer.isBuffer(v)) {
      plain = false;
      break;
    }
  }
  if (plain) return headers;
  const map = new Map<string, string>();
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) map.set(k, String(v));
  return map;
}

/**
 * @platformatic/kafka, loaded only when chosen: it is an ES module, which Node 20.19+ can require
 * but Jest's module loader cannot, so the unit tests of everything importing this library never
 * touch it. It is given the Java-compatible partitioner, so switching clients keeps each key on
 * its partition.
 */
export class PlatformaticSender implements RecordSender {
  private producer: PlatformaticProducer | undefined;

  constructor(
    private readonly brokers: string[],
    private readonly clientId: string,
  ) {}

  async connect(): Promise<void> {
    const { Producer } = await import('@platformatic/kafka');
    // Strings become UTF-8 (as stringSerializers does), Buffers (a hot path's pre-encoded values
    // and headers) pass as they are. Header names are few: each is encoded once.
    const names = new Map<string, Buffer>();
    const utf8 = (data: unknown): Buffer | undefined =>
      typeof data === 'string' ? Buffer.from(data, 'utf8') : (data as Buffer | undefined);
    this.producer = new Producer({
      clientId: this.clientId,
      bootstrapBrokers: this.brokers,
      idempotent: true,
      acks: -1,
      autocreateTopics: false,
      serializers: {
        key: utf8,
        value: utf8,
        headerKey: (data: unknown) => {
          if (typeof data !== 'string') return data as Buffer | undefined;
          let name = names.get(data);
          if (!name) {
            name = Buffer.from(data, 'utf8');
            if (names.size < 64) names.set(data, name);
          }
          return name;
        },
        headerValue: utf8,
      },
      partitioner: (_message: unknown, key: Buffer | undefined) =>
        key ? javaCompatiblePartition(key) : 0,
    });
    await this.producer.metadata({ topics: [] });
  }

  async send(byTopic: Map<string, SenderRecord[]>): Promise<void> {
    if (!this.producer) throw new Error('producer not connected');
    const messages: {
      topic: string;
      key: string;
      value: Buffer | string;
      headers?: IHeaders | Map<string, string>;
    }[] = [];
    for (const [topic, records] of byTopic) {
      for (const r of records) {
        messages.push({ topic, key: r.key, value: r.value, headers: headersOf(r.headers) });
      }
    }
    await (
      this.producer as unknown as {
        send(options: { messages: typeof messages }): Promise<unknown>;
      }
    ).send({ messages });
  }

  async disconnect(): Promise<void> {
    await this.producer?.close();
  }

  onDisconnect(): void {
    // No connection events: readiness relies on failed requests and the idle probe instead.
  }

  async probe(): Promise<void> {
    if (!this.producer) throw new Error('producer not connected');
    // forceUpdate: the cached metadata would answer without asking any broker.
    await this.producer.metadata({ topics: [], forceUpdate: true });
  }
}
