import {
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import type { z } from 'zod';
import type { FleetMeterRecord } from '@meterlink/contracts';
import { meterListQuerySchema, type meterPageSchema } from '../api/api-schemas';
import { parseRequest } from '../api/validation';
import { ApiAuthGuard, RequiresRole, type AuthenticatedRequest } from '@meterlink/service-kit';
import { MetersRepository } from './meters.repository';
import { DecommissionMeterService } from '../decommission-meter/decommission-meter.service';

@UseGuards(ApiAuthGuard)
@Controller('v1/meters')
export class MetersController {
  constructor(
    private readonly meters: MetersRepository,
    private readonly decommissioning: DecommissionMeterService,
  ) {}

  @Get()
  @RequiresRole('viewer')
  async list(@Query() query: unknown): Promise<z.infer<typeof meterPageSchema>> {
    const filter = parseRequest(meterListQuerySchema, query);
    const meters = await this.meters.list(filter);
    return {
      meters,
      ...(meters.length === filter.limit ? { nextAfter: meters[meters.length - 1]!.meterId } : {}),
    };
  }

  @Get(':meterId')
  @RequiresRole('viewer')
  async get(@Param('meterId') meterId: string): Promise<FleetMeterRecord> {
    const meter = await this.meters.get(meterId);
    if (!meter) throw new NotFoundException(`meter ${meterId} not found`);
    return meter.record;
  }

  /**
   * Decommission: the broker credential and the meter's certificates are revoked, and every
   * service's view says so. Repeating it finishes what an interrupted call left undone.
   */
  @Post(':meterId/decommission')
  @HttpCode(200)
  @RequiresRole('operator')
  async decommission(
    @Param('meterId') meterId: string,
    @Req() request: AuthenticatedRequest,
  ): Promise<FleetMeterRecord> {
    const meter = await this.decommissioning.decommission(
      meterId,
      request.operator?.id ?? 'unknown',
    );
    if (!meter) throw new NotFoundException(`meter ${meterId} not found`);
    return meter;
  }
}
