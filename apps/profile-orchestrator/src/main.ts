import { BatchingProducer, KafkaBatchTransport, createKafka } from '@meterlink/kafka';
import { main, runService } from '@meterlink/service-kit';
import { loadOrchestratorConfig, type OrchestratorConfig } from './config';
import { ProfileOrchestratorModule } from './app.module';

let parts: { kafka: ReturnType<typeof createKafka>; producer: BatchingProducer } | undefined;
const kafkaParts = (config: OrchestratorConfig): NonNullable<typeof parts> => {
  if (!parts) {
    const kafka = createKafka({
      brokers: config.KAFKA_BROKERS,
      clientId: config.KAFKA_CLIENT_ID ?? 'profile-orchestrator',
    });
    parts = { kafka, producer: new BatchingProducer(kafka) };
  }
  return parts;
};

main(() =>
  runService<OrchestratorConfig>({
    name: 'profile-orchestrator',
    loadConfig: loadOrchestratorConfig,
    module: (config) =>
      ProfileOrchestratorModule.register(
        config,
        kafkaParts(config).kafka,
        kafkaParts(config).producer,
      ),
    httpPort: (config) => config.HTTP_PORT,
    shutdownTimeoutMs: (config) => config.SHUTDOWN_TIMEOUT_MS,
    transport: (_app, config) =>
      new KafkaBatchTransport(kafkaParts(config).kafka, {
        groupId: 'profile-orchestrator',
        deadLetterProducer: kafkaParts(config).producer,
      }),
  }),
);
