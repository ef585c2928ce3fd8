import { KafkaBatchTransport, kafkaClient, kafkaClientsOnce } from '@meterlink/kafka';
import { main, runService } from '@meterlink/service-kit';
import { loadIngestionConfig, type IngestionConfig } from './config';
import { IngestionModule } from './app.module';

const parts = kafkaClientsOnce(
  (config: IngestionConfig) => ({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID ?? `ingestion-${config.INGESTION_REPLICA_ID}`,
    producer: { lingerMs: config.KAFKA_LINGER_MS, maxBatchRecords: config.KAFKA_MAX_BATCH_RECORDS },
    producerClient: config.KAFKA_PRODUCER_CLIENT,
  }),
  kafkaClient,
);

main(() =>
  runService<IngestionConfig>({
    name: 'ingestion',
    loadConfig: loadIngestionConfig,
    module: (config) =>
      IngestionModule.register(config, parts(config).kafka, parts(config).producer),
    httpPort: (config) => config.HTTP_PORT,
    shutdownTimeoutMs: (config) => config.SHUTDOWN_TIMEOUT_MS,
    transport: (_app, config) =>
      new KafkaBatchTransport(parts(config).kafka, {
        groupId: 'ingestion.downlink',
        deadLetterProducer: parts(config).producer,
      }),
  }),
);
