import { createKafka, ensureTopics } from '@meterlink/kafka';
import { startInfrastructure, type Infrastructure } from './infrastructure';

declare global {
  var meterlinkInfrastructure: Infrastructure | undefined;
}

/**
 * Jest global setup for the integration and e2e tiers: real infrastructure for the whole run,
 * the contract topics created, and its address exported to the test workers' environment.
 */
export default async function globalSetup(): Promise<void> {
  process.env.TZ = 'UTC';
  const infra = await startInfrastructure();
  Object.assign(process.env, infra.extra ?? {}, infra.env);
  const kafka = createKafka({
    brokers: infra.env.KAFKA_BROKERS.split(','),
    clientId: 'test-setup',
  });
  await ensureTopics(kafka);
  globalThis.meterlinkInfrastructure = infra;
}
