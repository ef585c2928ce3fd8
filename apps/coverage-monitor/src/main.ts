import { BatchingProducer, KafkaBatchTransport, createKafka } from '@meterlink/kafka';
import { main, runService } from '@meterlink/service-kit';
import { loadCoverageConfig, type CoverageConfig } from './config';
import { CoverageMonitorModule } from './app.module';

let parts: { kafka: ReturnType<typeof createKafka>; producer: BatchingProducer } | undefined;
const kafkaParts = (config: CoverageConfig): NonNullable<typeof parts> => {
  if (!parts) {
    const kafka = createKafka({
      brokers: config.KAFKA_BROKERS,
      clientId: config.KAFKA_CLIENT_ID ?? 'coverage-monitor',
    });
    parts = { kafka, producer: new BatchingProducer(kafka) };
  }
  return parts;
};

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
