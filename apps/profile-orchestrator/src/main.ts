import { KafkaBatchTransport, kafkaClient, kafkaClientsOnce } from '@meterlink/kafka';
import { main, runService } from '@meterlink/service-kit';
import { loadOrchestratorConfig, type OrchestratorConfig } from './config';
import { ProfileOrchestratorModule } from './app.module';

const kafkaParts = kafkaClientsOnce(
  (config: OrchestratorConfig) => ({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID ?? 'profile-orchestrator',
  }),
  kafkaClient,
);

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
