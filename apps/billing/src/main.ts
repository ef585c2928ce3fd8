import { BatchingProducer, KafkaBatchTransport, createKafka } from '@meterlink/kafka';
import { main, runService } from '@meterlink/service-kit';
import { loadBillingConfig, type BillingConfig } from './config';
import { BillingModule } from './app.module';

let parts: { kafka: ReturnType<typeof createKafka>; producer: BatchingProducer } | undefined;
const kafkaParts = (config: BillingConfig): NonNullable<typeof parts> => {
  if (!parts) {
    const kafka = createKafka({
      brokers: config.KAFKA_BROKERS,
      clientId: config.KAFKA_CLIENT_ID ?? 'billing',
    });
    parts = { kafka, producer: new BatchingProducer(kafka) };
  }
  return parts;
};

main(() =>
  runService<BillingConfig>({
    name: 'billing',
    loadConfig: loadBillingConfig,
    module: (config) => BillingModule.register(config, kafkaParts(config).producer),
    httpPort: (config) => config.HTTP_PORT,
    shutdownTimeoutMs: (config) => config.SHUTDOWN_TIMEOUT_MS,
    transport: (_app, config) =>
      new KafkaBatchTransport(kafkaParts(config).kafka, {
        groupId: 'billing',
        deadLetterProducer: kafkaParts(config).producer,
      }),
  }),
);
