// The workflow bundle's interceptor module (src/worker/bundle.ts): a vmflow error thrown by
// workflow code, by an update handler or by an update validator leaves as a typed failure.
import type { WorkflowInboundCallsInterceptor, WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { toFailure } from '../src/domain/errors';

const typedFailures: WorkflowInboundCallsInterceptor = {
  async execute(input, next) {
    try {
      return await next(input);
    } catch (err) {
      throw toFailure(err);
    }
  },
  async handleUpdate(input, next) {
    try {
      return await next(input);
    } catch (err) {
      throw toFailure(err);
    }
  },
  validateUpdate(input, next) {
    try {
      next(input);
    } catch (err) {
      throw toFailure(err);
    }
  },
};

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [typedFailures] });
