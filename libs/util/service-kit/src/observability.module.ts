import { Controller, Get, Global, Header, Module, Res } from '@nestjs/common';
import type { Response } from 'express';
import { HealthRegistry, metricsRegistry } from '@meterlink/observability';

@Controller()
export class OpsController {
  constructor(private readonly health: HealthRegistry) {}

  @Get('health/live')
  live(): { ok: true } {
    return { ok: true };
  }

  @Get('health/ready')
  async ready(@Res() res: Response): Promise<void> {
    const status = await this.health.readiness();
    res.status(status.ok ? 200 : 503).json(status);
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  async metrics(): Promise<string> {
    return metricsRegistry.metrics();
  }
}

@Global()
@Module({ controllers: [OpsController], providers: [HealthRegistry], exports: [HealthRegistry] })
export class ObservabilityModule {}
