import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createLogger } from '@meterlink/observability';

export type { MqttClient, IClientOptions } from 'mqtt';

export interface MqttConnectOptions {
  url: string;
  clientId: string;
  username: string;
  password: string;
  /** Persistent session so the broker keeps QoS 1 messages while we are away. */
  clean?: boolean;
  extra?: Partial<IClientOptions>;
}

/** Connects and resolves once the broker accepted the session (rejects on auth failure). */
export async function connectMqtt(options: MqttConnectOptions): Promise<MqttClient> {
  const log = createLogger('mqtt');
  const client = mqtt.connect(options.url, {
    clientId: options.clientId,
    username: options.username,
    password: options.password,
    clean: options.clean ?? false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 7 * 24 * 3600, receiveMaximum: 1_000 },
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
    resubscribe: true,
    ...options.extra,
  });
  await new Promise<void>((resolve, reject) => {
    const onConnect = (): void => {
      client.off('error', onError);
      resolve();
    };
    const onError = (error: Error): void => {
      client.off('connect', onConnect);
      client.end(true);
      reject(error);
    };
    client.once('connect', onConnect);
    client.once('error', onError);
  });
  client.on('error', (error) => log.warn({ err: error, clientId: options.clientId }, 'mqtt error'));
  client.on('offline', () => log.warn({ clientId: options.clientId }, 'mqtt offline'));
  return client;
}

export function mqttHealth(client: MqttClient | undefined): { ok: boolean; detail?: string } {
  return client?.connected ? { ok: true } : { ok: false, detail: 'not connected' };
}

export {
  MqttSession,
  MqttRefusedError,
  MqttUnavailableError,
  type InboundMessage,
  type MqttSessionOptions,
} from './session';
