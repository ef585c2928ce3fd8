import { KafkaBatchTransport } from '@meterlink/kafka';
import { main, runService } from '@meterlink/service-kit';
import { loadIngestionConfig, type IngestionConfig } from './config';
import { IngestionModule, createIngestionKafka } from './app.module';

let kafkaParts: ReturnType<typeof createIngestionKafka> | undefined;
const parts = (config: IngestionConfig): ReturnType<typeof createIngestionKafka> =>
  (kafkaParts ??= createIngestionKafka(config));

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
