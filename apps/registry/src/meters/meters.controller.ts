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
import type { FleetMeterRecord } from '@meterlink/contracts';
import { ApiAuthGuard, RequiresRole, type AuthenticatedRequest } from '../auth/api-auth.guard';
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
  async list(
    @Query('region') region?: string,
    @Query('carrierId') carrierId?: string,
    @Query('status') status?: string,
    @Query('after') after?: string,
    @Query('limit') limit?: string,
  ): Promise<{ meters: FleetMeterRecord[] }> {
    const n = Math.min(Math.max(Number(limit ?? 100) || 100, 1), 1_000);
    return {
      meters: await this.meters.list({
        ...(region ? { region } : {}),
        ...(carrierId ? { carrierId } : {}),
        ...(status ? { status } : {}),
        ...(after ? { after } : {}),
        limit: n,
      }),
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
