import { Controller, Get } from '@nestjs/common';
import { buildOpenApiDocument } from './openapi';

/** The operator API's OpenAPI document, public like the PKI files: it holds no fleet data. */
@Controller('v1')
export class OpenApiController {
  private readonly document = buildOpenApiDocument();

  @Get('openapi.json')
  openApi(): Record<string, unknown> {
    return this.document;
  }
}
