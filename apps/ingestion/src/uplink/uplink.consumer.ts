import { Inject, Injectable } from '@nestjs/common';
import { uplinkSharedSubscription } from '@meterlink/contracts';
import { connectMqtt, mqttHealth, type MqttClient } from '@meterlink/mqtt';
import { TransientError } from '@meterlink/kafka';
import { HealthRegistry, createLogger } from '@meterlink/observability';
import { INGESTION_CONFIG } from '../tokens';
import type { IngestionConfig } from '../config';
import { UplinkService } from './uplink.service';

/**
 * MQTT side of the uplink: persistent sessions in the `$share/ingestion` group, and a PUBACK that
 * is sent only after the pipeline resolved, i.e. after Kafka acknowledged. Failures are retried
 * here rather than acknowledged with an error code, because a negative PUBACK makes the broker
 * drop the message.
 */
@Injectable()
export class UplinkConsumer {
  private readonly log = createLogger('UplinkConsumer');
  private readonly clients: MqttClient[] = [];
  private stopping = false;

  constructor(
    @Inject(INGESTION_CONFIG) private readonly config: IngestionConfig,
    private readonly uplink: UplinkService,
    health: HealthRegistry,
  ) {
    health.register('mqtt', () => {
      const down = this.clients.filter((c) => !mqttHealth(c).ok).length;
      return this.clients.length > 0 && down === 0
        ? { ok: true }
        : { ok: false, detail: `${down} of ${this.clients.length} connections down` };
    });
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.config.INGESTION_MQTT_CONNECTIONS; i++) {
      const client = await connectMqtt({
        url: this.config.MQTT_URL,
        clientId: `meterlink-ingestion-${this.config.INGESTION_REPLICA_ID}-${i}`,
        username: this.config.MQTT_INGESTION_USERNAME,
        password: this.config.MQTT_INGESTION_PASSWORD,
        clean: false,
        extra: {
          customHandleAcks: (topic, payload, _packet, done) =>
            void this.handle(topic, payload, done),
        },
      });
      await client.subscribeAsync(uplinkSharedSubscription(), { qos: 1 });
      this.clients.push(client);
    }
    this.log.info({ connections: this.clients.length }, 'subscribed to uplink');
  }

  /** A connection to publish downlink messages on. */
  publisher(): MqttClient {
    const client = this.clients.find((c) => c.connected) ?? this.clients[0];
    if (!client?.connected) throw new TransientError('no MQTT connection for downlink');
    return client;
  }

  private async handle(
    topic: string,
    payload: Buffer,
    done: (error: Error | number, code?: number) => void,
  ): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      try {
        await this.uplink.process(topic, payload);
        done(0);
        return;
      } catch (error) {
        attempt++;
        const delayMs = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
        this.log.warn(
          { err: error, attempt, delayMs },
          'uplink processing failed; holding the acknowledgement and retrying',
        );
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
    // Shutting down: no PUBACK, so the broker keeps the message in our session for redelivery.
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.clients.map((c) => c.endAsync()));
  }
}
