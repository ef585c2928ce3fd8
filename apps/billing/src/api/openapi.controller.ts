import { Controller, Get } from '@nestjs/common';
import { buildOpenApiDocument } from './openapi';

/** The statements API's OpenAPI document: public, it holds no billing data. */
@Controller('v1')
export class OpenApiController {
  private readonly document = buildOpenApiDocument();

  @Get('openapi.json')
  openApi(): Record<string, unknown> {
    return this.document;
  }
}
