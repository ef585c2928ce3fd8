import { Controller, Get, Inject } from '@nestjs/common';
import type { EcJwk } from '@meterlink/jws';
import { EIM_KEY_STORE } from './eim-key.tokens';
import type { EimKeyStore } from './eim-key.store';

/** Public: factories fetch the eIM's public keys (current and next) to load into meters. */
@Controller()
export class JwksController {
  constructor(@Inject(EIM_KEY_STORE) private readonly keys: EimKeyStore) {}

  @Get('eim/jwks.json')
  jwks(): { keys: EcJwk[] } {
    return this.keys.jwks();
  }
}
