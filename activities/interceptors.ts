// Every activity the worker runs, local or not: a vmflow error leaves as a typed failure.
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { toFailure } from '../src/domain/errors';

export const typedFailures: ActivityInterceptorsFactory = () => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (err) {
        throw toFailure(err);
      }
    },
  },
});
