// Callbacks chain, success and error feedbacks, args flowing back to the application.
// Run: npx tsx examples/feedbacks/main.ts
import {
  JobFailedError,
  startDistributor,
  startNode,
  type ErrorInfo,
  type FeedbackInfo,
} from '../../src/index.ts';
import { charge, orderTotal, refund, type Refund } from './jobs.ts';

const app = (line: string) => console.log(`[app] ${line}`);

const distributor = await startDistributor({ port: 0 });
const node = await startNode({ name: 'worker_1', distributors: [distributor.address] });

// 1. Success feedback: the job and both callbacks added to args; all of it comes back.
await new Promise<void>((resolve) => {
  distributor.enqueue(orderTotal, { items: [120, 80] }, {}, (args, info) => {
    app(`success feedback from ${info.node}: ${JSON.stringify(args)}`);
    resolve();
  });
});

// 2. Retries: attempts 1 and 2 fail (the errback runs each time), attempt 3 succeeds.
//    `backoff` sets the delay between attempts (ms); the default is attempt × 5 s.
const charged = await distributor.enqueue(
  charge,
  { card: 'visa', amount: 200 },
  { maxAttempt: 5, backoff: { type: 'fixed', delay: 100 } },
).result;
app(`charge succeeded on attempt ${charged.chargedOn}: ${JSON.stringify(charged)}`);

// 3. Error feedback: args.error is { name, code, message }; errback merges come back too.
const failed = await new Promise<{ args: Refund & { error: ErrorInfo }; info: FeedbackInfo }>(
  (resolve) => {
    distributor.enqueue(
      refund,
      { card: 'expired', amount: 50 },
      {},
      undefined,
      (args, _error, info) => resolve({ args, info }),
    );
  },
);
app(
  `error feedback after ${failed.info.attempt} attempt: ${failed.args.error.code} ` +
    `"${failed.args.error.message}", customerNotified=${failed.args.customerNotified}`,
);

// 4. The same failure seen through the handle: `result` rejects with JobFailedError.
const err = await distributor
  .enqueue(refund, { card: 'expired', amount: 10 })
  .result.catch((e: unknown) => e);
if (err instanceof JobFailedError) {
  app(`result rejected: ${err.code}, cause ${err.error.code}, args ${JSON.stringify(err.args)}`);
}

await node.stop();
await distributor.close();
app('done');
