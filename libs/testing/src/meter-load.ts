import mqtt, { type MqttClient } from 'mqtt';
import { telemetryMessage, type TestMeter } from './test-fleet';

export interface MeterLoadOptions {
  mqttUrl: string;
  meters: TestMeter[];
  /** Messages per second over all meters. */
  ratePerSecond: number;
  /** First seq each meter sends. */
  firstSeq?: number;
}

/**
 * Steady telemetry from real meter identities, each on its own MQTT connection with its own
 * credential, as meters in the field do. It records every seq the broker acknowledged, so a test
 * can check afterwards that each of them reached Kafka exactly once.
 */
export class MeterLoad {
  private readonly clients = new Map<string, MqttClient>();
  private readonly nextSeq = new Map<string, number>();
  /** Per meter, the seqs the broker acknowledged (PUBACK): the platform owes each of them. */
  readonly acknowledged = new Map<string, number[]>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  private failures = 0;

  constructor(private readonly options: MeterLoadOptions) {}

  async connect(): Promise<void> {
    for (const meter of this.options.meters) {
      const id = meter.line.meterId;
      const client = await mqtt.connectAsync(this.options.mqttUrl, {
        clientId: id,
        username: id,
        password: meter.line.mqttPassword,
        protocolVersion: 5,
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
        reconnectPeriod: 500,
      });
      this.clients.set(id, client);
      this.nextSeq.set(id, this.options.firstSeq ?? 1);
      this.acknowledged.set(id, []);
    }
  }

  /** Starts publishing round-robin over the meters at the configured rate. */
  start(): void {
    const meters = this.options.meters;
    const tickMs = 20;
    const perTick = this.options.ratePerSecond / (1_000 / tickMs);
    let credit = 0;
    let cursor = 0;
    this.timer = setInterval(() => {
      credit += perTick;
      while (credit >= 1) {
        credit -= 1;
        const meter = meters[cursor++ % meters.length]!;
        this.publishNext(meter);
      }
    }, tickMs);
  }

  private publishNext(meter: TestMeter): void {
    const id = meter.line.meterId;
    const seq = this.nextSeq.get(id)!;
    this.nextSeq.set(id, seq + 1);
    const client = this.clients.get(id)!;
    const sent = client
      .publishAsync(`mtr/v1/${id}/up/telemetry`, JSON.stringify(telemetryMessage(meter, seq)), {
        qos: 1,
      })
      .then(
        () => void this.acknowledged.get(id)!.push(seq),
        () => void this.failures++,
      );
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }

  /** Stops publishing and waits for the broker to acknowledge what was sent. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
  }

  /** Publishes that the broker refused or that failed: a load test expects none. */
  failed(): number {
    return this.failures;
  }

  totalAcknowledged(): number {
    let total = 0;
    for (const seqs of this.acknowledged.values()) total += seqs.length;
    return total;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.clients.values()].map((c) => c.endAsync()));
  }
}
