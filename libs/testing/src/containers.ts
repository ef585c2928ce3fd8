import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import mqtt from 'mqtt';
import { REPO_ROOT, type Infrastructure } from './infrastructure';

const KAFKA_IMAGE = 'apache/kafka:3.9.1';
const MOSQUITTO_IMAGE = 'eclipse-mosquitto:2.0.18';

const MOSQUITTO_CONF = `
per_listener_settings false
listener 1883 0.0.0.0
allow_anonymous false
persistence true
persistence_location /mosquitto/data/
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 1000
message_size_limit 32768
plugin /usr/lib/mosquitto_dynamic_security.so
plugin_opt_config_file /mosquitto/data/dynamic-security.json
`;

/** The broker policy of tools/stack/mosquitto/policy, plus the ingestion client. */
function bootstrapCommands(
  ingestionUser: string,
  ingestionPassword: string,
): { lockdown: object[]; services: object[] } {
  const policy = (file: string): object[] =>
    (
      JSON.parse(
        readFileSync(join(REPO_ROOT, 'tools', 'stack', 'mosquitto', 'policy', file), 'utf8'),
      ) as { commands: object[] }
    ).commands;
  return {
    // These change the admin's own rights, which makes the broker disconnect it: no answer comes.
    lockdown: policy('lockdown.json'),
    services: [
      ...policy('ingestion-role.json'),
      {
        command: 'createClient',
        username: ingestionUser,
        password: ingestionPassword,
        roles: [{ rolename: 'ingestion' }],
      },
    ],
  };
}

/**
 * The infrastructure in containers, for machines with a Docker engine. Kafka runs KRaft single
 * node with its advertised listener set to the mapped port once known.
 */
export async function startContainers(): Promise<Infrastructure> {
  const started: StartedTestContainer[] = [];
  try {
    const postgres = await new GenericContainer('postgres:15')
      .withEnvironment({
        POSTGRES_USER: 'meterlink',
        POSTGRES_PASSWORD: 'meterlink',
        POSTGRES_DB: 'meterlink',
      })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    started.push(postgres);
    const redis = await new GenericContainer('redis:7')
      .withCommand(['redis-server', '--appendonly', 'yes'])
      .withExposedPorts(6379)
      .start();
    started.push(redis);

    const kafkaPort = 19_092 + Math.floor(Math.random() * 1000);
    const kafka = await new GenericContainer(KAFKA_IMAGE)
      .withExposedPorts({ container: 9092, host: kafkaPort })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: 'PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093',
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://localhost:${kafkaPort}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start();
    started.push(kafka);
    // Lets outage tests pause this broker (see kafkaOutage()): workers inherit the variable.
    process.env.METERLINK_KAFKA_CONTAINER_ID = kafka.getId();

    const adminPassword = randomBytes(18).toString('base64url');
    const ingestionPassword = randomBytes(18).toString('base64url');
    const mosquitto = await new GenericContainer(MOSQUITTO_IMAGE)
      .withCopyContentToContainer([
        { content: MOSQUITTO_CONF, target: '/mosquitto/config/mosquitto.conf' },
      ])
      .withCommand([
        'sh',
        '-c',
        `mosquitto_ctrl dynsec init /mosquitto/data/dynamic-security.json meterlink-admin '${adminPassword}' && chown -R mosquitto /mosquitto/data && exec mosquitto -c /mosquitto/config/mosquitto.conf`,
      ])
      .withExposedPorts(1883)
      .withWaitStrategy(Wait.forLogMessage(/mosquitto version .* running/))
      .start();
    started.push(mosquitto);
    const mqttUrl = `mqtt://${mosquitto.getHost()}:${mosquitto.getMappedPort(1883)}`;
    const { lockdown, services } = bootstrapCommands('meterlink-ingestion', ingestionPassword);
    await applyDynsec(mqttUrl, adminPassword, lockdown, false);
    await applyDynsec(mqttUrl, adminPassword, services, true);

    return {
      kind: 'testcontainers',
      env: {
        KAFKA_BROKERS: `localhost:${kafkaPort}`,
        MQTT_URL: mqttUrl,
        REDIS_URL: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
        DATABASE_URL: `postgres://meterlink:meterlink@${postgres.getHost()}:${postgres.getMappedPort(5432)}/meterlink`,
        MQTT_ADMIN_USERNAME: 'meterlink-admin',
        MQTT_ADMIN_PASSWORD: adminPassword,
        MQTT_INGESTION_USERNAME: 'meterlink-ingestion',
        MQTT_INGESTION_PASSWORD: ingestionPassword,
      },
      stop: async () => {
        await Promise.all(started.map((c) => c.stop()));
      },
    };
  } catch (error) {
    await Promise.all(started.map((c) => c.stop().catch(() => undefined)));
    throw error;
  }
}

async function applyDynsec(
  url: string,
  adminPassword: string,
  commands: object[],
  awaitAnswer: boolean,
): Promise<void> {
  const client = await mqtt.connectAsync(url, {
    username: 'meterlink-admin',
    password: adminPassword,
    clientId: `bootstrap-${randomBytes(4).toString('hex')}`,
  });
  try {
    await client.subscribeAsync('$CONTROL/dynamic-security/v1/response', { qos: 1 });
    const answered = new Promise<void>((resolve) => client.once('message', () => resolve()));
    await client.publishAsync('$CONTROL/dynamic-security/v1', JSON.stringify({ commands }), {
      qos: 1,
    });
    if (awaitAnswer) await answered;
  } finally {
    await client.endAsync(true);
  }
}
