import { Inject, Injectable } from '@nestjs/common';
import { uplinkSharedSubscription } from '@meterlink/contracts';
import { MqttSession, MqttUnavailableError, type InboundMessage } from '@meterlink/mqtt';
import { TransientError, isTransient } from '@meterlink/kafka';
import { HealthRegistry, counter, createLogger, gauge } from '@meterlink/observability';
import { INGESTION_CONFIG } from '../tokens';
import type { IngestionConfig } from '../config';
import { UplinkService } from './uplink.service';
import { processWithRetries, type RetryPolicy } from './process-with-retries';

const retried = counter(
  'ingest_processing_retries_total',
  'Uplink processing attempts that failed and were retried, by kind',
  ['kind'],
);

const drainingSessions = gauge(
  'ingest_retired_sessions_draining',
  'Broker sessions of retired connections or replicas still being drained (1 while looking)',
);

/** Connection indices looked at for sessions left behind by a larger INGESTION_MQTT_CONNECTIONS. */
const MAX_CONNECTIONS_SWEPT = 32;
/** Messages processed together at most (one Redis call and one produce request each way). */
const MAX_BATCH = 1_000;
/** A retired session is drained once nothing arrived for this long and nothing is unacknowledged. */
const DRAIN_IDLE_MS = 1_000;

/**
 * MQTT side of the uplink: persistent sessions in the `$share/ingestion` group, and a PUBACK that
 * is sent only after the pipeline resolved, i.e. after Kafka acknowledged. Each connection keeps
 * up to `INGESTION_MQTT_RECEIVE_MAXIMUM` messages in flight; the broker's flow control is what
 * bounds memory while Kafka is away.
 *
 * A failure because Kafka or Redis is away is retried without limit: a negative PUBACK would
 * make the broker drop the message. Any other failure is a defect that would otherwise hold the
 * connection's acknowledgements forever, so after a few attempts the message is dead-lettered
 * as `processing_failed` and acknowledged.
 */
@Injectable()
export class UplinkConsumer {
  private readonly log = createLogger('UplinkConsumer');
  private readonly sessions: MqttSession[] = [];
  private readonly draining = new Set<MqttSession>();
  private drainRun: Promise<void> | undefined;
  private stopping = false;
  private batch: InboundMessage[] = [];
  private flushScheduled = false;

  constructor(
    @Inject(INGESTION_CONFIG) private readonly config: IngestionConfig,
    private readonly uplink: UplinkService,
    health: HealthRegistry,
  ) {
    health.register('mqtt', () => {
      const down = this.sessions.filter((s) => !s.isConnected()).length;
      return this.sessions.length > 0 && down === 0
        ? { ok: true }
        : { ok: false, detail: `${down} of ${this.sessions.length} connections down` };
    });
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.config.INGESTION_MQTT_CONNECTIONS; i++) {
      const session = this.session(this.clientId(this.config.INGESTION_REPLICA_ID, i), true);
      await session.start();
      this.sessions.push(session);
    }
    this.drainRun = this.drainRetiredSessions().catch((error: unknown) =>
      this.log.error(
        { err: error },
        'draining retired sessions failed; it runs again at the next start',
      ),
    );
    this.log.info(
      {
        connections: this.sessions.length,
        receiveMaximum: this.config.INGESTION_MQTT_RECEIVE_MAXIMUM,
      },
      'subscribed to uplink',
    );
  }

  private clientId(replicaId: string, index: number): string {
    return `meterlink-ingestion-${replicaId}-${index}`;
  }

  private session(
    clientId: string,
    subscribe: boolean,
    onMessage: (message: InboundMessage) => void = (message) => this.enqueue(message),
  ): MqttSession {
    return new MqttSession({
      url: this.config.MQTT_URL,
      clientId,
      username: this.config.MQTT_INGESTION_USERNAME,
      password: this.config.MQTT_INGESTION_PASSWORD,
      clean: false,
      receiveMaximum: this.config.INGESTION_MQTT_RECEIVE_MAXIMUM,
      subscriptions: subscribe ? [{ topic: uplinkSharedSubscription(), qos: 1 }] : [],
      onMessage,
    });
  }

  /**
   * The broker's shared subscription keeps routing a share of the traffic to every member
   * session, online or not. A session left behind when the connection count went down (or a
   * replica was retired) would silently collect messages until it expired and then drop them.
   * So each start resumes those sessions, stops their routing, processes what they hold, and
   * ends them. Only this replica's own ids and the ones named in INGESTION_DRAIN_REPLICA_IDS are
   * touched: taking over a live replica's client id would disconnect it.
   */
  private async drainRetiredSessions(): Promise<void> {
    drainingSessions.set(1);
    try {
      await this.drainEach();
    } finally {
      drainingSessions.set(0);
    }
  }

  private async drainEach(): Promise<void> {
    const ids: string[] = [];
    for (let i = this.config.INGESTION_MQTT_CONNECTIONS; i < MAX_CONNECTIONS_SWEPT; i++)
      ids.push(this.clientId(this.config.INGESTION_REPLICA_ID, i));
    const retiredReplicas = this.config.INGESTION_DRAIN_REPLICA_IDS.filter(
      (id) => id !== this.config.INGESTION_REPLICA_ID,
    );
    for (const replicaId of retiredReplicas)
      for (let i = 0; i < MAX_CONNECTIONS_SWEPT; i++) ids.push(this.clientId(replicaId, i));
    for (const clientId of ids) {
      if (this.stopping) return;
      let lastMessageAt = Date.now();
      let received = 0;
      const session = this.session(clientId, false, (message) => {
        lastMessageAt = Date.now();
        received++;
        this.enqueue(message);
      });
      this.draining.add(session);
      try {
        await session.start();
        if (session.sessionPresent()) {
          await session.unsubscribe([uplinkSharedSubscription()]);
          while (
            !this.stopping &&
            (session.unacknowledged() > 0 || Date.now() - lastMessageAt < DRAIN_IDLE_MS)
          ) {
            await new Promise((r) => setTimeout(r, 100));
          }
          if (this.stopping) return;
          this.log.info({ clientId, messages: received }, 'retired session drained and ended');
        }
        await session.stop({ endSession: true });
      } finally {
        this.draining.delete(session);
      }
    }
  }

  /** Publishes a downlink message at QoS 1 on the first live connection. */
  async publish(
    topic: string,
    payload: string,
    options: { expiryIntervalS?: number } = {},
  ): Promise<void> {
    const session = this.sessions.find((s) => s.isConnected());
    if (!session) throw new TransientError('no MQTT connection for downlink');
    try {
      await session.publish(topic, payload, options);
    } catch (error) {
      if (error instanceof MqttUnavailableError)
        throw new TransientError(error.message, { cause: error });
      throw error;
    }
  }

  /**
   * Messages that arrive together (one socket read holds a few hundred) are processed as one
   * batch, flushed once the current I/O callbacks are done or when the batch is full.
   */
  private enqueue(message: InboundMessage): void {
    this.batch.push(message);
    if (this.batch.length >= MAX_BATCH) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.batch;
    this.batch = [];
    if (batch.length > 0) void this.handleBatch(batch);
  }

  private async handleBatch(batch: InboundMessage[]): Promise<void> {
    // A defect anywhere in the batch: retry its messages one by one, so that only the message at
    // fault ends up dead-lettered and the others go through.
    const outcome = await processWithRetries(
      () => this.uplink.processBatch(batch),
      () => Promise.all(batch.map((message) => this.handleOne(message))),
      { ...this.retryPolicy(), maxDefects: 1 },
    );
    if (outcome === 'processed') for (const message of batch) message.ack();
  }

  private async handleOne(message: InboundMessage): Promise<void> {
    const outcome = await processWithRetries(
      () => this.uplink.process(message),
      (lastDefect) =>
        this.uplink.deadLetterUnprocessable(message.topic, message.payload, lastDefect),
      this.retryPolicy(),
    );
    // Abandoned while shutting down: no PUBACK, so the broker keeps the message for redelivery.
    if (outcome !== 'abandoned') message.ack();
  }

  private retryPolicy(): RetryPolicy {
    return {
      maxDefects: this.config.INGESTION_MAX_ATTEMPTS,
      isTransient,
      delayMs: (attempt) => Math.min(5_000, 50 * 2 ** Math.min(attempt, 7)),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      stopping: () => this.stopping,
      onRetry: (error, attempt, transient, delayMs) => {
        retried.inc({ kind: transient ? 'transient' : 'defect' });
        this.log.warn(
          { err: error, attempt, transient, delayMs },
          'uplink processing failed; holding the acknowledgement and retrying',
        );
      },
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.uplink.stop();
    // A drain cut short keeps its session (and what it holds) for the next start.
    await Promise.all([...this.sessions, ...this.draining].map((s) => s.stop()));
    await this.drainRun;
  }
}
