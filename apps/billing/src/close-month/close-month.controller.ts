import { Controller, Get, HttpCode, Param, Post, Req, UseGuards } from '@nestjs/common';
import { billingPeriodSchema } from '@meterlink/contracts';
import { ApiAuthGuard, RequiresRole, type AuthenticatedRequest } from '@meterlink/service-kit';
import { parseRequest } from '../api/validation';
import { CloseMonthService } from './close-month.service';

@Controller('v1/months')
@UseGuards(ApiAuthGuard)
export class CloseMonthController {
  constructor(private readonly months: CloseMonthService) {}

  @Get()
  @RequiresRole('viewer')
  list() {
    return this.months.list();
  }

  @Post(':period/close')
  @HttpCode(200)
  @RequiresRole('admin')
  close(@Param('period') period: string, @Req() req: AuthenticatedRequest) {
    return this.months.close(parseRequest(billingPeriodSchema, period), req.operator?.id ?? '?');
  }
}
