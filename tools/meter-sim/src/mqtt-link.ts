import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import { downlinkSubscription, uplinkTopic, type UplinkChannel } from '@meterlink/contracts';
import type { Logger } from '@meterlink/observability';
import type { MeterLink } from './meter';

/** What a link reports back to its meter. */
export interface LinkListener {
  onConnected(): void;
  onDisconnected(): void;
  onDownlink(topic: string, payload: Buffer): void;
}

/** A meter's connection as the simulator manages it: the meter's view plus wiring and shutdown. */
export interface SimLink extends MeterLink {
  bind(listener: LinkListener): void;
  /** Ends the connection for good (gracefully, bounded by timeoutMs). */
  close(timeoutMs?: number): Promise<void>;
  readonly connectErrors: number;
}

export interface MqttLinkOptions {
  url: string;
  meterId: string;
  password: string;
  logger: Logger;
  /** MQTT 5 session expiry: the broker keeps the session and its QoS 1 queue this long. */
  sessionExpiryS?: number;
  keepaliveS?: number;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
}

/**
 * One mqtt.js connection per meter: client id = username = meterId, MQTT 5, persistent session,
 * downlink subscription at QoS 1, every publish at QoS 1. Each connection episode gets a fresh
 * client (the broker keeps the session), so a meter that lost coverage can come back cleanly.
 */
export class MqttMeterLink implements SimLink {
  private client: MqttClient | undefined;
  private listener: LinkListener | undefined;
  private errors = 0;
  private readonly errorsLogged = new Set<string>();

  constructor(private readonly options: MqttLinkOptions) {}

  get connectErrors(): number {
    return this.errors;
  }

  bind(listener: LinkListener): void {
    this.listener = listener;
  }

  connect(): void {
    if (this.client) return;
    const { meterId, password, url } = this.options;
    const client = mqtt.connect(url, {
      clientId: meterId,
      username: meterId,
      password,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: this.options.sessionExpiryS ?? 24 * 3600 },
      keepalive: this.options.keepaliveS ?? 60,
      reconnectPeriod: this.options.reconnectPeriodMs ?? 2_000,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      resubscribe: false,
    });
    this.client = client;
    // Messages the broker delivers from the session queue before the meter is ready wait here.
    let ready = false;
    let early: { topic: string; payload: Buffer }[] = [];
    const current = (): boolean => this.client === client;

    client.on('connect', (connack: IConnackPacket) => {
      if (!current()) return;
      ready = false;
      const becomeReady = (): void => {
        if (!current() || ready) return;
        ready = true;
        this.listener?.onConnected();
        const queued = early;
        early = [];
        for (const m of queued) this.listener?.onDownlink(m.topic, m.payload);
      };
      // Subscribe on every connection (idempotent); the first poll waits for the SUBACK so that
      // its answer cannot arrive before the subscription exists.
      client.subscribe(downlinkSubscription(meterId), { qos: 1 }, (error, granted) => {
        if (error) this.logError('subscribe failed', error);
        else if (granted?.some((g) => g.qos > 2))
          this.logError('subscription refused', new Error(`granted ${JSON.stringify(granted)}`));
        becomeReady();
      });
      if (connack.sessionPresent) becomeReady();
    });
    client.on('message', (topic, payload) => {
      if (!current()) return;
      if (!ready) {
        early.push({ topic, payload });
        return;
      }
      // mqtt.js writes the PUBACK right after this handler returns: let it go out before the
      // meter acts (a package may make it drop the connection at once to attach elsewhere).
      // Delivered even if the connection has been dropped meanwhile: it was acknowledged.
      setImmediate(() => this.listener?.onDownlink(topic, payload));
    });
    client.on('close', () => {
      if (!current()) return;
      ready = false;
      this.listener?.onDisconnected();
    });
    client.on('error', (error) => {
      this.errors++;
      this.logError('mqtt error', error);
    });
  }

  disconnect(mode: 'graceful' | 'abrupt'): void {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // abrupt: the radio is gone, no DISCONNECT reaches the broker (it notices by keep-alive).
    client.end(mode === 'abrupt');
  }

  publish(channel: UplinkChannel, payload: string): void {
    const client = this.client;
    if (!client) return;
    client.publish(uplinkTopic(this.options.meterId, channel), payload, { qos: 1 }, (error) => {
      if (error) this.logError('publish failed', error);
    });
  }

  async close(timeoutMs = 5_000): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.end(true);
        resolve();
      }, timeoutMs);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Each distinct error once at warn level (auth failures repeat on every reconnect). */
  private logError(what: string, error: Error): void {
    const key = `${what}:${error.message}`;
    const fields = { meterId: this.options.meterId, err: error.message };
    if (this.errorsLogged.has(key)) {
      this.options.logger.debug(fields, what);
      return;
    }
    this.errorsLogged.add(key);
    this.options.logger.warn(fields, what);
  }
}
