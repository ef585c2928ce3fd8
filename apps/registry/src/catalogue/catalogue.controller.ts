import { Controller, Get, NotFoundException, Param, UseGuards } from '@nestjs/common';
import type { z } from 'zod';
import type { CarrierCatalogue } from '@meterlink/contracts';
import { ApiAuthGuard, RequiresRole } from '@meterlink/service-kit';
import type {
  carrierListSchema,
  carrierViewSchema,
  regionListSchema,
  regionViewSchema,
} from '../api/api-schemas';
import { CatalogueRepository } from './catalogue.repository';

/** The carrier catalogue as it stands: what PUT /v1/catalogue last imported, per carrier and region. */
@UseGuards(ApiAuthGuard)
@Controller('v1')
export class CatalogueController {
  constructor(private readonly catalogue: CatalogueRepository) {}

  /** In the shape PUT /v1/catalogue takes, so it can be edited and imported again. */
  @Get('catalogue')
  @RequiresRole('viewer')
  async get(): Promise<CarrierCatalogue> {
    const [carriers, regions] = await Promise.all([
      this.catalogue.carriers(),
      this.catalogue.regions(),
    ]);
    return {
      carriers: carriers.map(({ updatedAt: _at, ...c }) => c),
      regions: regions.map(({ updatedAt: _at, ...r }) => r),
    };
  }

  @Get('carriers')
  @RequiresRole('viewer')
  async carriers(): Promise<z.infer<typeof carrierListSchema>> {
    return { carriers: await this.catalogue.carriers() };
  }

  @Get('carriers/:carrierId')
  @RequiresRole('viewer')
  async carrier(@Param('carrierId') carrierId: string): Promise<z.infer<typeof carrierViewSchema>> {
    const [carrier] = await this.catalogue.carriers(carrierId);
    if (!carrier) throw new NotFoundException(`carrier ${carrierId} not found`);
    return carrier;
  }

  @Get('regions')
  @RequiresRole('viewer')
  async regions(): Promise<z.infer<typeof regionListSchema>> {
    return { regions: await this.catalogue.regions() };
  }

  @Get('regions/:region')
  @RequiresRole('viewer')
  async region(@Param('region') region: string): Promise<z.infer<typeof regionViewSchema>> {
    const [found] = await this.catalogue.regions(region);
    if (!found) throw new NotFoundException(`region ${region} not found`);
    return found;
  }
}
