import mqtt from 'mqtt';
import type { InfraEnv } from './infrastructure';

/**
 * Sends dynamic-security commands with the broker's admin credential, for tests that need a
 * broker identity the registry does not know about. Resolves with each command's response.
 */
export async function dynsecAdmin(
  infra: InfraEnv,
  commands: Record<string, unknown>[],
): Promise<{ command: string; error?: string }[]> {
  const client = await mqtt.connectAsync(infra.MQTT_URL, {
    clientId: `test-dynsec-${process.pid}-${Date.now()}`,
    username: infra.MQTT_ADMIN_USERNAME,
    password: infra.MQTT_ADMIN_PASSWORD,
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  try {
    const response = new Promise<{ command: string; error?: string }[]>((resolve) => {
      client.on('message', (_topic, payload) => {
        const body = JSON.parse(payload.toString()) as {
          responses: { command: string; error?: string }[];
        };
        resolve(body.responses);
      });
    });
    await client.subscribeAsync('$CONTROL/dynamic-security/v1/response', { qos: 1 });
    await client.publishAsync('$CONTROL/dynamic-security/v1', JSON.stringify({ commands }), {
      qos: 1,
    });
    return await response;
  } finally {
    await client.endAsync();
  }
}
