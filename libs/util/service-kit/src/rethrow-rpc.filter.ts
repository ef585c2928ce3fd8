import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';

/**
 * Nest's default RPC exception handling turns every handler error into `{ status: 'error',
 * message: 'Internal server error' }`, which hides whether a dependency was away (retry) or the
 * record is poison (dead-letter). The Kafka transport needs the original error, so rethrow it.
 */
@Catch()
export class RethrowRpcErrorsFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}
