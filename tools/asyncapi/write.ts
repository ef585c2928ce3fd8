import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ASYNCAPI_VERSION, buildAsyncApiDocument } from '@meterlink/contracts';

/** Regenerates libs/contracts/asyncapi.json from the zod schemas (npm run contracts:asyncapi). */
const target = join(__dirname, '..', '..', '..', 'libs', 'contracts', 'asyncapi.json');
writeFileSync(target, `${JSON.stringify(buildAsyncApiDocument(ASYNCAPI_VERSION), null, 2)}\n`);
process.stdout.write(`wrote ${target}\n`);
