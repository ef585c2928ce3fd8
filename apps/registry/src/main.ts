import { main, runService } from '@meterlink/service-kit';
import { loadRegistryConfig, type RegistryConfig } from './config';
import { RegistryModule } from './app.module';

main(() =>
  runService<RegistryConfig>({
    name: 'registry',
    loadConfig: loadRegistryConfig,
    module: (config) => RegistryModule.register(config),
    httpPort: (config) => config.HTTP_PORT,
    shutdownTimeoutMs: (config) => config.SHUTDOWN_TIMEOUT_MS,
  }),
);
