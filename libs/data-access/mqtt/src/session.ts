import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import mqttPacket, { type IConnackPacket, type IPublishPacket, type Packet } from 'mqtt-packet';
import { createLogger } from '@meterlink/observability';

/** One message from the broker. QoS 1 messages must be acknowledged exactly once. */
export interface InboundMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  /** The broker says it may have sent this message before (redelivery after a reconnect). */
  dup: boolean;
  /**
   * Releases the PUBACK. Acknowledgements leave in the order the messages arrived (MQTT §4.6),
   * so a slow message holds back the ones behind it on the same connection. A no-op for QoS 0
   * and for a message that arrived on a connection that has since dropped: the broker
   * redelivers those, and acknowledging by packet id on the new connection could acknowledge a
   * different message that reused the id.
   */
  ack(): void;
}

export interface MqttSessionOptions {
  url: string;
  clientId: string;
  username: string;
  password: string;
  subscriptions?: { topic: string; qos: 0 | 1 }[];
  /** Called for every PUBLISH from the broker; the handler owns calling `ack`. */
  onMessage?: (message: InboundMessage) => void;
  /** QoS 1 messages the broker may have outstanding towards us: our bound on memory. */
  receiveMaximum?: number;
  keepaliveSeconds?: number;
  /** Persistent session: the broker keeps our subscription and queues messages while we are away. */
  sessionExpirySeconds?: number;
  clean?: boolean;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  connectTimeoutMs?: number;
  tls?: tls.ConnectionOptions;
}

/** The broker refused us (bad credentials, not authorised): retrying as-is will not help. */
export class MqttRefusedError extends Error {
  constructor(
    message: string,
    readonly reasonCode: number,
  ) {
    super(message);
    this.name = 'MqttRefusedError';
  }
}

/** The connection is down or the broker negatively acknowledged a publish: worth retrying. */
export class MqttUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MqttUnavailableError';
  }
}

interface AckSlot {
  messageId: number;
  acked: boolean;
}

interface OutgoingPublish {
  topic: string;
  payload: Buffer;
  /** MQTT 5 Message Expiry Interval: the broker discards the message once it is this old. */
  expiryIntervalS?: number;
  resolve: () => void;
  reject: (error: Error) => void;
  messageId?: number;
}

const PUBACK_HEADER = 0x40;
const PROTOCOL_VERSION = 5;
const encode = (packet: Packet): Buffer =>
  mqttPacket.generate(packet, { protocolVersion: PROTOCOL_VERSION });

/**
 * A lean MQTT 5 client for the hot path, on `mqtt-packet` over one socket.
 *
 * mqtt.js hands a `customHandleAcks` consumer one message at a time per connection, which caps a
 * connection at one Kafka round trip per message. Here every message is delivered at once and
 * PUBACKs are released in arrival order as processing completes, so up to `receiveMaximum`
 * messages per connection are in flight while the broker's flow control bounds our memory.
 * It reconnects by itself, resubscribes, and drops the acknowledgements of a dead connection.
 */
export class MqttSession extends EventEmitter {
  private readonly log = createLogger('MqttSession');
  private readonly options: Required<Omit<MqttSessionOptions, 'tls' | 'onMessage'>> &
    Pick<MqttSessionOptions, 'tls' | 'onMessage'>;
  private socket: net.Socket | undefined;
  private generation = 0;
  private connected = false;
  private stopping = false;
  private ackQueue: AckSlot[] = [];
  private ackHead = 0;
  private ackFlushScheduled = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  /** Reading stopped because the broker sent more than our Receive Maximum. */
  private readingPaused = false;
  private reconnectAttempt = 0;
  private nextMessageId = 1;
  private serverReceiveMaximum = 65_535;
  private readonly outgoing = new Map<number, OutgoingPublish>();
  private readonly outgoingQueue: OutgoingPublish[] = [];
  private subscribeMessageId = 0;
  private pendingUnsubscribe: { messageId: number; resolve: () => void } | undefined;
  private present = false;
  private firstReady:
    { resolve: () => void; reject: (error: Error) => void; settled: boolean } | undefined;

  constructor(options: MqttSessionOptions) {
    super();
    this.options = {
      subscriptions: [],
      receiveMaximum: 1_000,
      keepaliveSeconds: 30,
      sessionExpirySeconds: 7 * 24 * 3600,
      clean: false,
      reconnectMinMs: 500,
      reconnectMaxMs: 10_000,
      connectTimeoutMs: 10_000,
      ...options,
    };
  }

  /** Connects and subscribes; rejects if the broker refuses the credentials or a subscription. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.firstReady = { resolve, reject, settled: false };
      this.connect();
    });
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Whether the broker still had our session (and what it queued for us) when we connected. */
  sessionPresent(): boolean {
    return this.present;
  }

  /** Removes subscriptions; messages the broker already queued for us still arrive. */
  unsubscribe(topics: string[]): Promise<void> {
    if (!this.connected) return Promise.reject(new MqttUnavailableError('not connected'));
    return new Promise<void>((resolve) => {
      const messageId = this.allocateMessageId();
      this.pendingUnsubscribe = { messageId, resolve };
      this.socket?.write(encode({ cmd: 'unsubscribe', messageId, unsubscriptions: topics }));
    });
  }

  /** QoS 1 messages received and not yet acknowledged on the current connection. */
  unacknowledged(): number {
    return this.ackQueue.length - this.ackHead;
  }

  /** Publishes at QoS 1 and resolves on the broker's PUBACK. */
  publish(
    topic: string,
    payload: Buffer | string,
    options: { expiryIntervalS?: number } = {},
  ): Promise<void> {
    if (this.stopping) return Promise.reject(new MqttUnavailableError('session stopped'));
    if (!this.connected) return Promise.reject(new MqttUnavailableError('not connected'));
    return new Promise<void>((resolve, reject) => {
      const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
      this.outgoingQueue.push({
        topic,
        payload: body,
        resolve,
        reject,
        ...(options.expiryIntervalS !== undefined
          ? { expiryIntervalS: Math.max(1, Math.ceil(options.expiryIntervalS)) }
          : {}),
      });
      this.drainOutgoing();
    });
  }

  /**
   * Disconnects cleanly. The broker keeps the session and every unacknowledged message, unless
   * `endSession`: then it deletes the session, which is only safe once nothing is unacknowledged.
   */
  async stop(options: { endSession?: boolean } = {}): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    this.failOutgoing(new MqttUnavailableError('session stopped'));
    if (!socket || socket.destroyed) return;
    // PUBACKs released just before stopping still leave, ahead of the DISCONNECT.
    if (this.connected && this.ackFlushScheduled) this.flushAcks();
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      if (this.connected) {
        socket.end(
          encode({
            cmd: 'disconnect',
            reasonCode: 0,
            ...(options.endSession ? { properties: { sessionExpiryInterval: 0 } } : {}),
          }),
        );
      } else {
        socket.destroy();
      }
      setTimeout(() => socket.destroy(), 2_000).unref();
    });
  }

  private connect(): void {
    const url = new URL(this.options.url);
    const secure = url.protocol === 'mqtts:';
    const port = Number(url.port || (secure ? 8883 : 1883));
    const host = url.hostname;
    const generation = ++this.generation;
    const socket = secure
      ? tls.connect({ host, port, servername: host, ...this.options.tls })
      : net.connect({ host, port });
    socket.setNoDelay(true);
    this.socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: PROTOCOL_VERSION });
    const connectTimer = setTimeout(
      () => socket.destroy(new Error('MQTT connect timed out')),
      this.options.connectTimeoutMs,
    );
    parser.on('packet', (packet: Packet) => {
      if (generation === this.generation) this.onPacket(packet, connectTimer);
    });
    parser.on('error', (error: Error) => socket.destroy(error));
    socket.on(secure ? 'secureConnect' : 'connect', () => {
      socket.write(
        encode({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: PROTOCOL_VERSION,
          clientId: this.options.clientId,
          username: this.options.username,
          password: Buffer.from(this.options.password),
          clean: this.options.clean,
          keepalive: this.options.keepaliveSeconds,
          properties: {
            sessionExpiryInterval: this.options.sessionExpirySeconds,
            receiveMaximum: this.options.receiveMaximum,
          },
        }),
      );
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', (error) => {
      if (!this.stopping)
        this.log.warn({ err: error, clientId: this.options.clientId }, 'mqtt socket error');
    });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (generation !== this.generation) return;
      this.onClosed();
    });
  }

  private onPacket(packet: Packet, connectTimer: NodeJS.Timeout): void {
    switch (packet.cmd) {
      case 'publish':
        this.onPublish(packet);
        return;
      case 'puback':
        this.onPuback(packet.messageId ?? 0, packet.reasonCode ?? 0);
        return;
      case 'connack':
        clearTimeout(connectTimer);
        this.onConnack(packet);
        return;
      case 'suback': {
        if (packet.messageId !== this.subscribeMessageId) return;
        const codes = (packet.granted as unknown[]).filter(
          (g): g is number => typeof g === 'number',
        );
        const refused = codes.find((g) => g >= 0x80);
        if (refused !== undefined) {
          const error = new MqttRefusedError(
            `subscription refused by the broker (reason 0x${refused.toString(16)})`,
            refused,
          );
          this.failStart(error);
          this.log.error({ err: error, clientId: this.options.clientId }, 'subscribe refused');
          this.socket?.destroy();
          return;
        }
        this.becomeReady();
        return;
      }
      case 'unsuback':
        if (this.pendingUnsubscribe && packet.messageId === this.pendingUnsubscribe.messageId) {
          this.pendingUnsubscribe.resolve();
          this.pendingUnsubscribe = undefined;
        }
        return;
      case 'pingresp':
        this.awaitingPong = false;
        return;
      case 'disconnect':
        this.log.warn(
          { clientId: this.options.clientId, reasonCode: packet.reasonCode },
          'broker disconnected us',
        );
        this.socket?.destroy();
        return;
      // We never publish or subscribe at QoS 2 nor use enhanced auth: nothing else concerns us.
      case 'auth':
      case 'connect':
      case 'pingreq':
      case 'pubcomp':
      case 'pubrec':
      case 'pubrel':
      case 'subscribe':
      case 'unsubscribe':
        return;
    }
  }

  private onConnack(packet: IConnackPacket): void {
    const code = packet.reasonCode ?? packet.returnCode ?? 0;
    if (code !== 0) {
      const error = new MqttRefusedError(
        `broker refused the connection (reason 0x${code.toString(16)})`,
        code,
      );
      this.log.error({ clientId: this.options.clientId, reasonCode: code }, 'connection refused');
      this.failStart(error);
      this.socket?.destroy();
      return;
    }
    this.serverReceiveMaximum = packet.properties?.receiveMaximum ?? 65_535;
    this.present = packet.sessionPresent;
    this.reconnectAttempt = 0;
    this.startPing();
    if (this.options.subscriptions.length === 0) {
      this.becomeReady();
      return;
    }
    // Resubscribing on a present session is harmless and covers a broker that lost it.
    this.subscribeMessageId = this.allocateMessageId();
    this.socket?.write(
      encode({
        cmd: 'subscribe',
        messageId: this.subscribeMessageId,
        subscriptions: this.options.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })),
      }),
    );
  }

  private becomeReady(): void {
    this.connected = true;
    this.emit('connect');
    if (this.firstReady && !this.firstReady.settled) {
      this.firstReady.settled = true;
      this.firstReady.resolve();
    }
    this.drainOutgoing();
  }

  private failStart(error: Error): void {
    if (this.firstReady && !this.firstReady.settled) {
      this.firstReady.settled = true;
      this.stopping = true;
      this.firstReady.reject(error);
    }
  }

  private onPublish(packet: IPublishPacket): void {
    const payload =
      typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (packet.qos === 0) {
      this.options.onMessage?.({
        topic: packet.topic,
        payload,
        qos: 0,
        dup: false,
        ack: () => undefined,
      });
      return;
    }
    const slot: AckSlot = { messageId: packet.messageId ?? 0, acked: false };
    this.ackQueue.push(slot);
    // Mosquitto 2.0.11 honours Receive Maximum until the first PUBACK and then sends its whole
    // queue (see docs/architecture.md): stop reading, so TCP flow control makes the broker hold
    // the backlog instead of our heap. What one read already holds is still delivered.
    if (!this.readingPaused && this.unacknowledged() >= this.options.receiveMaximum) {
      this.readingPaused = true;
      this.socket?.pause();
    }
    const generation = this.generation;
    let done = false;
    this.options.onMessage?.({
      topic: packet.topic,
      payload,
      qos: 1,
      dup: packet.dup,
      ack: () => {
        if (done) return;
        done = true;
        if (generation !== this.generation) return;
        slot.acked = true;
        this.scheduleAckFlush();
      },
    });
  }

  /**
   * A batch acknowledges hundreds of messages in one go: their PUBACKs leave in one write once
   * the current synchronous run is over (a microtask), not one socket write per message.
   */
  private scheduleAckFlush(): void {
    if (this.ackFlushScheduled) return;
    this.ackFlushScheduled = true;
    queueMicrotask(() => {
      this.ackFlushScheduled = false;
      this.flushAcks();
    });
  }

  /** Writes the PUBACKs of the acknowledged messages at the head of the queue, in one write. */
  private flushAcks(): void {
    let end = this.ackHead;
    while (end < this.ackQueue.length && this.ackQueue[end]!.acked) end++;
    if (end === this.ackHead) return;
    const frame = Buffer.allocUnsafe((end - this.ackHead) * 4);
    let offset = 0;
    for (let i = this.ackHead; i < end; i++) {
      const id = this.ackQueue[i]!.messageId;
      // PUBACK with success and no properties: the 4-byte form valid in MQTT 3.1.1 and 5.
      frame[offset++] = PUBACK_HEADER;
      frame[offset++] = 2;
      frame[offset++] = id >> 8;
      frame[offset++] = id & 0xff;
    }
    this.ackHead = end;
    if (this.readingPaused && this.unacknowledged() <= this.options.receiveMaximum / 2) {
      this.readingPaused = false;
      this.socket?.resume();
    }
    if (this.ackHead > 1_024 && this.ackHead * 2 > this.ackQueue.length) {
      this.ackQueue = this.ackQueue.slice(this.ackHead);
      this.ackHead = 0;
    }
    this.socket?.write(frame);
  }

  private allocateMessageId(): number {
    for (let tries = 0; tries < 65_535; tries++) {
      const id = this.nextMessageId;
      this.nextMessageId = id >= 65_535 ? 1 : id + 1;
      if (
        !this.outgoing.has(id) &&
        id !== this.subscribeMessageId &&
        id !== this.pendingUnsubscribe?.messageId
      )
        return id;
    }
    throw new MqttUnavailableError('no free MQTT packet id');
  }

  private drainOutgoing(): void {
    while (
      this.connected &&
      this.outgoingQueue.length > 0 &&
      this.outgoing.size < this.serverReceiveMaximum
    ) {
      const next = this.outgoingQueue.shift()!;
      next.messageId = this.allocateMessageId();
      this.outgoing.set(next.messageId, next);
      this.socket?.write(
        encode({
          cmd: 'publish',
          topic: next.topic,
          payload: next.payload,
          qos: 1,
          dup: false,
          retain: false,
          messageId: next.messageId,
          ...(next.expiryIntervalS !== undefined
            ? { properties: { messageExpiryInterval: next.expiryIntervalS } }
            : {}),
        }),
      );
    }
  }

  private onPuback(messageId: number, reasonCode: number): void {
    const pending = this.outgoing.get(messageId);
    if (!pending) return;
    this.outgoing.delete(messageId);
    // 0x10 "no matching subscribers" still means the broker took the message.
    if (reasonCode >= 0x80) {
      pending.reject(
        new MqttUnavailableError(
          `broker refused the publish (reason 0x${reasonCode.toString(16)})`,
        ),
      );
    } else {
      pending.resolve();
    }
    this.drainOutgoing();
  }

  private failOutgoing(error: Error): void {
    for (const pending of this.outgoing.values()) pending.reject(error);
    this.outgoing.clear();
    for (const pending of this.outgoingQueue.splice(0)) pending.reject(error);
  }

  private startPing(): void {
    clearInterval(this.pingTimer);
    this.awaitingPong = false;
    this.pingTimer = setInterval(
      () => {
        if (this.awaitingPong) {
          this.log.warn({ clientId: this.options.clientId }, 'no PINGRESP; reconnecting');
          this.socket?.destroy();
          return;
        }
        this.awaitingPong = true;
        this.socket?.write(encode({ cmd: 'pingreq' }));
      },
      (this.options.keepaliveSeconds * 1_000) / 2,
    );
  }

  private onClosed(): void {
    const wasConnected = this.connected;
    this.connected = false;
    clearInterval(this.pingTimer);
    // Unacknowledged messages of this connection are the broker's to redeliver now.
    this.ackQueue = [];
    this.ackHead = 0;
    this.readingPaused = false;
    this.failOutgoing(new MqttUnavailableError('connection lost before PUBACK'));
    if (wasConnected) this.emit('offline');
    if (this.stopping) return;
    const delay = Math.min(
      this.options.reconnectMaxMs,
      this.options.reconnectMinMs * 2 ** Math.min(this.reconnectAttempt, 8),
    );
    this.reconnectAttempt++;
    this.log.warn(
      { clientId: this.options.clientId, delayMs: delay, attempt: this.reconnectAttempt },
      'mqtt connection closed; reconnecting',
    );
    this.reconnectTimer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
  }
}
