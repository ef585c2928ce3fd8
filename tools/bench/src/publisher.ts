import { connect as netConnect, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { generate, parser as packetParser, type Packet } from 'mqtt-packet';

/** Where a message goes: the topic as text (mqtt.js) and as bytes (the raw publisher). */
export interface Route {
  topic: string;
  topicBytes: Buffer;
}

export function route(topic: string): Route {
  return { topic, topicBytes: Buffer.from(topic, 'utf8') };
}

export interface PublisherStats {
  enqueued: number;
  written: number;
  acked: number;
  /** PUBACKs with a failure reason code (≥ 0x80), by code: the broker did not take them. */
  refused: Record<string, number>;
  maxInflight: number;
  /** Messages held locally because the broker's Receive Maximum window was full. */
  maxQueued: number;
  /** Bytes Node had to buffer because the socket's kernel buffer was full. */
  maxSocketBufferedBytes: number;
}

/**
 * One load-generator connection: takes messages in schedule order, writes them as QoS 1 PUBLISH
 * packets as fast as the broker's flow control allows, and counts the broker's PUBACKs.
 */
export interface LoadPublisher {
  readonly clientId: string;
  enqueue(target: Route, payload: string): void;
  /** Writes what was enqueued since the last flush (one socket write per call). */
  flush(): void;
  /** Enqueued and not yet acknowledged by the broker. */
  outstanding(): number;
  /** Resolves when every enqueued message is acknowledged; rejects on connection loss or timeout. */
  whenIdle(timeoutMs: number): Promise<void>;
  stats(): PublisherStats;
  close(): Promise<void>;
}

export type PublisherKind = 'raw' | 'mqttjs';

export interface PublisherOptions {
  host: string;
  port: number;
  clientId: string;
  username: string;
  password: string;
}

export function connectPublisher(
  kind: PublisherKind,
  options: PublisherOptions,
): Promise<LoadPublisher> {
  return kind === 'raw' ? RawPublisher.connect(options) : MqttJsPublisher.connect(options);
}

const PUBACK = 4;
const PUBLISH_QOS1 = 0x32;
const PINGREQ = Buffer.from([0xc0, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);
const KEEPALIVE_S = 60;

const varintSize = (n: number): number => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4);

/** Bytes of an MQTT 5 QoS 1 PUBLISH without properties. */
export function publishSize(topicBytes: number, payloadBytes: number): number {
  const remaining = 2 + topicBytes + 2 + 1 + payloadBytes;
  return 1 + varintSize(remaining) + remaining;
}

/**
 * Encodes an MQTT 5 QoS 1 PUBLISH (no properties) at `offset` and returns the next offset. The
 * payload must be ASCII (the bench's JSON and JWS texts are), so it is written as latin1, the
 * cheapest string encoding Node has.
 */
export function encodePublish(
  out: Buffer,
  offset: number,
  topic: Buffer,
  packetId: number,
  payload: string,
): number {
  let o = offset;
  out[o++] = PUBLISH_QOS1;
  let remaining = 2 + topic.length + 2 + 1 + payload.length;
  do {
    let byte = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) byte |= 0x80;
    out[o++] = byte;
  } while (remaining > 0);
  out.writeUInt16BE(topic.length, o);
  o += 2;
  topic.copy(out, o);
  o += topic.length;
  out.writeUInt16BE(packetId, o);
  o += 2;
  out[o++] = 0; // property length
  o += out.write(payload, o, 'latin1');
  return o;
}

/**
 * MQTT 5 over a plain socket, with the per-message work cut to the bone: PUBLISH packets are
 * encoded by hand into one buffer per flush, and PUBACKs are decoded inline. Anything other
 * than a PUBACK (CONNACK, DISCONNECT, PINGRESP) goes through mqtt-packet's parser. mqtt.js
 * allocates, validates and emits per message, which costs several times more CPU per message.
 */
class RawPublisher implements LoadPublisher {
  private readonly routes: Route[] = [];
  private readonly payloads: string[] = [];
  private head = 0;
  private readonly inUse = new Uint8Array(65_536);
  private nextId = 1;
  private inflight = 0;
  private window = 65_535;
  private rest: Buffer | undefined;
  private failure: Error | undefined;
  private idleWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly parser = packetParser({ protocolVersion: 5 });
  private readonly counters: PublisherStats = {
    enqueued: 0,
    written: 0,
    acked: 0,
    refused: {},
    maxInflight: 0,
    maxQueued: 0,
    maxSocketBufferedBytes: 0,
  };
  private readonly ping: NodeJS.Timeout;
  private closing = false;

  private constructor(
    readonly clientId: string,
    private readonly socket: Socket,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => {
      if (!this.closing) this.fail(new Error(`${clientId}: connection closed by the broker`));
    });
    this.ping = setInterval(() => socket.write(PINGREQ), (KEEPALIVE_S / 2) * 1000);
    this.ping.unref();
  }

  static async connect(options: PublisherOptions): Promise<RawPublisher> {
    const socket = netConnect({ host: options.host, port: options.port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const publisher = new RawPublisher(options.clientId, socket);
    const connack = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${options.clientId}: no CONNACK`)), 10_000);
      publisher.parser.on('packet', (packet: Packet) => {
        if (packet.cmd === 'connack') {
          clearTimeout(timer);
          const code = packet.reasonCode ?? packet.returnCode ?? 0;
          if (code !== 0) {
            reject(new Error(`${options.clientId}: broker refused the connection (${code})`));
            return;
          }
          publisher.window = packet.properties?.receiveMaximum ?? 65_535;
          resolve();
        } else if (packet.cmd === 'disconnect') {
          publisher.fail(
            new Error(`${options.clientId}: broker disconnected (${packet.reasonCode ?? '?'})`),
          );
        }
      });
      publisher.parser.on('error', (error: Error) => {
        clearTimeout(timer);
        publisher.fail(error);
        reject(error);
      });
    });
    socket.write(
      generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 5,
        clientId: options.clientId,
        clean: true,
        keepalive: KEEPALIVE_S,
        username: options.username,
        password: Buffer.from(options.password, 'utf8'),
        properties: { sessionExpiryInterval: 0 },
      }),
    );
    try {
      await connack;
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return publisher;
  }

  enqueue(target: Route, payload: string): void {
    this.routes.push(target);
    this.payloads.push(payload);
    this.counters.enqueued++;
  }

  flush(): void {
    if (this.failure) return;
    const queued = this.routes.length - this.head;
    const n = Math.min(queued, this.window - this.inflight);
    if (queued - Math.max(n, 0) > this.counters.maxQueued)
      this.counters.maxQueued = queued - Math.max(n, 0);
    if (n <= 0) return;
    let size = 0;
    for (let k = this.head; k < this.head + n; k++) {
      size += publishSize(this.routes[k]!.topicBytes.length, this.payloads[k]!.length);
    }
    const out = Buffer.allocUnsafe(size);
    let offset = 0;
    for (let k = this.head; k < this.head + n; k++) {
      offset = encodePublish(
        out,
        offset,
        this.routes[k]!.topicBytes,
        this.takeId(),
        this.payloads[k]!,
      );
    }
    this.head += n;
    if (this.head >= 4096 && this.head * 2 >= this.routes.length) {
      this.routes.splice(0, this.head);
      this.payloads.splice(0, this.head);
      this.head = 0;
    }
    this.inflight += n;
    this.counters.written += n;
    if (this.inflight > this.counters.maxInflight) this.counters.maxInflight = this.inflight;
    this.socket.write(out);
    if (this.socket.writableLength > this.counters.maxSocketBufferedBytes)
      this.counters.maxSocketBufferedBytes = this.socket.writableLength;
  }

  outstanding(): number {
    return this.counters.enqueued - this.counters.acked - this.refusedCount();
  }

  whenIdle(timeoutMs: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.outstanding() === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w.resolve !== done);
        reject(new Error(`${this.clientId}: ${this.outstanding()} messages still unacknowledged`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.idleWaiters.push({
        resolve: done,
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  stats(): PublisherStats {
    return { ...this.counters, refused: { ...this.counters.refused } };
  }

  async close(): Promise<void> {
    clearInterval(this.ping);
    if (this.socket.destroyed) return;
    this.closing = true;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end(DISCONNECT);
    });
  }

  private refusedCount(): number {
    let n = 0;
    for (const count of Object.values(this.counters.refused)) n += count;
    return n;
  }

  private takeId(): number {
    while (this.inUse[this.nextId] === 1)
      this.nextId = this.nextId === 65_535 ? 1 : this.nextId + 1;
    const id = this.nextId;
    this.inUse[id] = 1;
    this.nextId = id === 65_535 ? 1 : id + 1;
    return id;
  }

  private onData(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let o = 0;
    let acks = 0;
    while (buf.length - o >= 2) {
      let length = 0;
      let multiplier = 1;
      let p = o + 1;
      let complete = false;
      for (let k = 0; k < 4 && p < buf.length; k++) {
        const byte = buf[p++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || buf.length - p < length) break;
      if (buf[o]! >> 4 === PUBACK) {
        this.onPuback(buf.readUInt16BE(p), length >= 3 ? buf[p + 2]! : 0);
        acks++;
      } else {
        this.parser.parse(buf.subarray(o, p + length));
      }
      o = p + length;
    }
    this.rest = o < buf.length ? Buffer.from(buf.subarray(o)) : undefined;
    if (acks > 0) {
      this.flush();
      if (this.outstanding() === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w.resolve();
      }
    }
  }

  private onPuback(packetId: number, reason: number): void {
    if (this.inUse[packetId] !== 1) return;
    this.inUse[packetId] = 0;
    this.inflight--;
    // 0x10 "no matching subscribers" is a success code: the broker took the message.
    if (reason >= 0x80) {
      const key = `0x${reason.toString(16)}`;
      this.counters.refused[key] = (this.counters.refused[key] ?? 0) + 1;
    } else {
      this.counters.acked++;
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    clearInterval(this.ping);
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w.reject(error);
  }
}

/** The same contract on mqtt.js, for comparison (`--publisher mqttjs`). */
class MqttJsPublisher implements LoadPublisher {
  private readonly counters: PublisherStats = {
    enqueued: 0,
    written: 0,
    acked: 0,
    refused: {},
    maxInflight: 0,
    maxQueued: 0,
    maxSocketBufferedBytes: 0,
  };
  private idleWaiters: (() => void)[] = [];
  private failure: Error | undefined;

  private constructor(
    readonly clientId: string,
    private readonly client: MqttClient,
  ) {
    client.on('error', (error) => (this.failure ??= error));
    client.on('close', () => (this.failure ??= new Error(`${clientId}: connection closed`)));
  }

  static async connect(options: PublisherOptions): Promise<MqttJsPublisher> {
    const client = await mqtt.connectAsync(`mqtt://${options.host}:${options.port}`, {
      clientId: options.clientId,
      username: options.username,
      password: options.password,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 0,
      keepalive: KEEPALIVE_S,
    });
    return new MqttJsPublisher(options.clientId, client);
  }

  enqueue(target: Route, payload: string): void {
    this.counters.enqueued++;
    this.counters.written++;
    this.client.publish(target.topic, payload, { qos: 1 }, (error) => {
      if (error) {
        const code = (error as { code?: unknown }).code;
        const key = typeof code === 'number' ? `0x${code.toString(16)}` : 'error';
        this.counters.refused[key] = (this.counters.refused[key] ?? 0) + 1;
      } else {
        this.counters.acked++;
      }
      if (this.outstanding() === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    });
  }

  flush(): void {
    const inflight = this.outstanding();
    if (inflight > this.counters.maxInflight) this.counters.maxInflight = inflight;
  }

  outstanding(): number {
    let refused = 0;
    for (const count of Object.values(this.counters.refused)) refused += count;
    return this.counters.enqueued - this.counters.acked - refused;
  }

  whenIdle(timeoutMs: number): Promise<void> {
    if (this.outstanding() === 0) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.clientId}: ${this.outstanding()} still unacknowledged`)),
        timeoutMs,
      );
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  stats(): PublisherStats {
    return { ...this.counters, refused: { ...this.counters.refused } };
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
