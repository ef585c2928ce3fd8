import { KafkaBatchTransport, kafkaClient, kafkaClientsOnce } from '@meterlink/kafka';
import { main, runService } from '@meterlink/service-kit';
import { loadRegistryConfig, type RegistryConfig } from './config';
import { RegistryModule } from './app.module';

const kafkaParts = kafkaClientsOnce(
  (config: RegistryConfig) => ({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID ?? 'registry',
  }),
  kafkaClient,
);

main(() =>
  runService<RegistryConfig>({
    name: 'registry',
    loadConfig: loadRegistryConfig,
    module: (config) =>
      RegistryModule.register(config, kafkaParts(config).kafka, kafkaParts(config).producer),
    httpPort: (config) => config.HTTP_PORT,
    shutdownTimeoutMs: (config) => config.SHUTDOWN_TIMEOUT_MS,
    transport: (_app, config) =>
      new KafkaBatchTransport(kafkaParts(config).kafka, {
        groupId: 'registry',
        deadLetterProducer: kafkaParts(config).producer,
      }),
  }),
);
