import mqtt from 'mqtt';

export interface ProbeResult {
  meterId: string;
  connected: boolean;
  /** A QoS 1 publish under its own up/ topic was acknowledged. */
  ownTopicAccepted: boolean;
  /** A QoS 1 publish under another meter's up/ topic was refused. */
  otherTopicRefused: boolean;
}

const connect = (url: string, meterId: string, password: string): Promise<mqtt.MqttClient> =>
  mqtt.connectAsync(url, {
    username: meterId,
    password,
    clientId: meterId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
  });

/** Milliseconds until the meter's credential is accepted by the broker (polling, with a deadline). */
export async function timeUntilAccepted(
  url: string,
  meterId: string,
  password: string,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      const client = await connect(url, meterId, password);
      await client.endAsync();
      return Date.now() - started;
    } catch (error) {
      if (Date.now() - started > timeoutMs)
        throw new Error(`${meterId} still refused after ${timeoutMs} ms`, { cause: error });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function probeMeter(
  url: string,
  meterId: string,
  password: string,
  otherMeterId: string,
): Promise<ProbeResult> {
  const result = { meterId, connected: false, ownTopicAccepted: false, otherTopicRefused: false };
  let client: mqtt.MqttClient;
  try {
    client = await connect(url, meterId, password);
  } catch {
    return result;
  }
  result.connected = true;
  try {
    await client.publishAsync(`mtr/v1/${meterId}/up/events`, '{}', { qos: 1 });
    result.ownTopicAccepted = true;
  } catch {
    result.ownTopicAccepted = false;
  }
  try {
    await client.publishAsync(`mtr/v1/${otherMeterId}/up/events`, '{}', { qos: 1 });
  } catch (error) {
    result.otherTopicRefused = /not authori/i.test(String(error));
  }
  await client.endAsync(true);
  return result;
}
