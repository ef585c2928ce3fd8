import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  Post,
  Put,
  Req,
  UseGuards,
} from '@nestjs/common';
import { carrierCatalogueSchema } from '@meterlink/contracts';
import { ApiAuthGuard, RequiresRole, type AuthenticatedRequest } from '@meterlink/service-kit';
import { ImportManifestService } from './import-manifest.service';
import {
  ImportCatalogueService,
  type CatalogueImportResult,
} from '../import-catalogue/import-catalogue.service';
import type { ImportReport } from '../imports/imports.repository';

@UseGuards(ApiAuthGuard)
@Controller('v1')
export class ImportController {
  constructor(
    private readonly manifests: ImportManifestService,
    private readonly catalogue: ImportCatalogueService,
  ) {}

  /** Body: the NDJSON manifest, streamed (Content-Type application/x-ndjson). */
  @Post('imports/manifest')
  @HttpCode(200)
  @RequiresRole('admin')
  async importManifest(@Req() request: AuthenticatedRequest): Promise<ImportReport> {
    if (!/ndjson|text\/plain|octet-stream/.test(request.headers['content-type'] ?? '')) {
      throw new BadRequestException('send the manifest as application/x-ndjson');
    }
    return this.manifests.import(request, request.operator?.id ?? 'unknown');
  }

  @Put('catalogue')
  @RequiresRole('admin')
  async importCatalogue(
    @Req() request: AuthenticatedRequest,
    @Body() body: unknown,
  ): Promise<CatalogueImportResult> {
    const parsed = carrierCatalogueSchema.safeParse(body);
    if (!parsed.success)
      throw new BadRequestException(
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      );
    return this.catalogue.import(parsed.data, request.operator?.id ?? 'unknown');
  }
}
