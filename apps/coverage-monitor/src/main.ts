import { KafkaBatchTransport, kafkaClient, kafkaClientsOnce } from '@meterlink/kafka';
import { main, runService } from '@meterlink/service-kit';
import { loadCoverageConfig, type CoverageConfig } from './config';
import { CoverageMonitorModule } from './app.module';

const kafkaParts = kafkaClientsOnce(
  (config: CoverageConfig) => ({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID ?? 'coverage-monitor',
  }),
  kafkaClient,
);

main(() =>
  runService<CoverageConfig>({
    name: 'coverage-monitor',
    loadConfig: loadCoverageConfig,
    module: (config) =>
      CoverageMonitorModule.register(config, kafkaParts(config).kafka, kafkaParts(config).producer),
    httpPort: (config) => config.HTTP_PORT,
    shutdownTimeoutMs: (config) => config.SHUTDOWN_TIMEOUT_MS,
    transport: (_app, config) =>
      new KafkaBatchTransport(kafkaParts(config).kafka, {
        groupId: 'coverage-monitor',
        deadLetterProducer: kafkaParts(config).producer,
      }),
  }),
);
