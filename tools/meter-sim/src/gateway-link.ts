import mqtt, { type MqttClient } from 'mqtt';
import { downlinkSubscription, uplinkTopic, type UplinkChannel } from '@meterlink/contracts';
import type { Logger } from '@meterlink/observability';
import type { LinkListener, SimLink } from './mqtt-link';

/**
 * Many simulated meters over a few MQTT connections, for fleets too large for one connection
 * each (benchmarks). It needs a broker identity allowed to publish every meter's `up/` and
 * receive every meter's `down/` (no real client has one; the benchmark provisions it). Each
 * meter still connects and disconnects on its own, virtually: while a meter is "offline" its
 * downlinks wait here, as the broker's session queue would keep them.
 */
export interface MqttGatewayOptions {
  url: string;
  username: string;
  password: string;
  /** Connections to spread the meters over (meter i uses connection i mod n). */
  connections: number;
  logger: Logger;
  clientIdPrefix?: string;
}

const SUBSCRIBE_BATCH = 500;
/** Downlinks kept per meter while it is virtually offline. */
const MAX_QUEUED = 64;

interface GatewayConnection {
  client: MqttClient;
  up: boolean;
  links: Map<string, GatewayMeterLink>;
}

export class MqttGateway {
  private readonly connections: GatewayConnection[] = [];
  private readonly byMeter = new Map<string, GatewayMeterLink>();
  private nextIndex = 0;
  private errors = 0;
  private closed = false;

  constructor(private readonly options: MqttGatewayOptions) {
    if (!Number.isInteger(options.connections) || options.connections < 1)
      throw new Error('a gateway needs at least one connection');
  }

  get connectErrors(): number {
    return this.errors;
  }

  /** A link for one meter; connections open on the first call. */
  linkFor(meterId: string): GatewayMeterLink {
    if (this.connections.length === 0) this.open();
    const connection = this.connections[this.nextIndex++ % this.connections.length]!;
    const link = new GatewayMeterLink(meterId, connection, this);
    connection.links.set(meterId, link);
    this.byMeter.set(meterId, link);
    if (connection.up) this.subscribe(connection, [meterId]);
    return link;
  }

  async close(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.connections.map(
        ({ client }) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              client.end(true);
              resolve();
            }, timeoutMs);
            client.end(false, {}, () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }

  publish(connection: GatewayConnection, meterId: string, channel: UplinkChannel, payload: string) {
    if (!connection.up) return;
    connection.client.publish(uplinkTopic(meterId, channel), payload, { qos: 1 }, (error) => {
      if (error) this.logError('publish failed', error);
    });
  }

  private open(): void {
    const { url, username, password, connections, logger } = this.options;
    const prefix = this.options.clientIdPrefix ?? `${username}-${process.pid}`;
    for (let n = 0; n < connections; n++) {
      const client = mqtt.connect(url, {
        clientId: `${prefix}-${n}`,
        username,
        password,
        protocolVersion: 5,
        clean: true,
        keepalive: 60,
        reconnectPeriod: 2_000,
        connectTimeout: 10_000,
        resubscribe: false,
      });
      const connection: GatewayConnection = { client, up: false, links: new Map() };
      this.connections.push(connection);
      client.on('connect', () => {
        this.subscribe(connection, [...connection.links.keys()], () => {
          connection.up = true;
          for (const link of connection.links.values()) link.connectionUp();
        });
      });
      client.on('message', (topic, payload) => {
        const meterId = topic.split('/')[2];
        const link = meterId === undefined ? undefined : this.byMeter.get(meterId);
        link?.deliver(topic, payload);
      });
      client.on('close', () => {
        if (!connection.up) return;
        connection.up = false;
        for (const link of connection.links.values()) link.connectionDown();
      });
      client.on('error', (error) => {
        this.errors++;
        this.logError('gateway mqtt error', error);
      });
    }
    logger.info({ connections }, 'meters share gateway connections');
  }

  private subscribe(connection: GatewayConnection, meterIds: string[], done?: () => void): void {
    let outstanding = Math.ceil(meterIds.length / SUBSCRIBE_BATCH);
    if (outstanding === 0) {
      done?.();
      return;
    }
    for (let i = 0; i < meterIds.length; i += SUBSCRIBE_BATCH) {
      const topics = Object.fromEntries(
        meterIds
          .slice(i, i + SUBSCRIBE_BATCH)
          .map((id) => [downlinkSubscription(id), { qos: 1 as const }]),
      );
      connection.client.subscribe(topics, (error) => {
        if (error) this.logError('gateway subscribe failed', error);
        if (--outstanding === 0) done?.();
      });
    }
  }

  private readonly logged = new Set<string>();
  private logError(what: string, error: Error): void {
    const key = `${what}:${error.message}`;
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.options.logger.warn({ err: error.message }, what);
  }
}

/** One meter's virtual connection over a gateway connection. */
export class GatewayMeterLink implements SimLink {
  private listener: LinkListener | undefined;
  private wanted = false;
  private online = false;
  private queue: { topic: string; payload: Buffer }[] = [];

  constructor(
    private readonly meterId: string,
    private readonly connection: GatewayConnection,
    private readonly gateway: MqttGateway,
  ) {}

  get connectErrors(): number {
    return 0;
  }

  bind(listener: LinkListener): void {
    this.listener = listener;
  }

  connect(): void {
    if (this.wanted) return;
    this.wanted = true;
    if (this.connection.up) setImmediate(() => this.connectionUp());
  }

  disconnect(): void {
    this.wanted = false;
    this.online = false;
  }

  publish(channel: UplinkChannel, payload: string): void {
    if (!this.online) return;
    this.gateway.publish(this.connection, this.meterId, channel, payload);
  }

  close(): Promise<void> {
    this.wanted = false;
    this.online = false;
    return Promise.resolve();
  }

  /** The shared connection is (again) up: a meter that wants to be online now is. */
  connectionUp(): void {
    if (!this.wanted || this.online || !this.connection.up) return;
    this.online = true;
    this.listener?.onConnected();
    const queued = this.queue.splice(0);
    for (const m of queued) this.listener?.onDownlink(m.topic, m.payload);
  }

  connectionDown(): void {
    if (!this.online) return;
    this.online = false;
    this.listener?.onDisconnected();
  }

  deliver(topic: string, payload: Buffer): void {
    if (!this.online) {
      if (this.queue.length < MAX_QUEUED) this.queue.push({ topic, payload });
      return;
    }
    setImmediate(() => this.listener?.onDownlink(topic, payload));
  }
}
