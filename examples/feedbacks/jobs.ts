// Job files: what a worker node can run. Callbacks and errbacks run on the node, in
// definition order, on the same args object as the job.
import { job, jobCallback, jobErrback, UnrecoverableJobError } from '../../src/index.ts';

const node = (line: string) => console.log(`  [node] ${line}`);

/**
 * Args types are `type` aliases (an `interface` does not fit `JobArgs`). The fields that the
 * steps add are declared optional, so `handle.result` is typed too.
 */
export type Order = {
  items: number[];
  subtotal?: number;
  tax?: number;
  receipt?: string;
};

export const orderTotal = job('order.total', (args: Order) => ({
  subtotal: args.items.reduce((sum, price) => sum + price, 0), // returned: merged into args
}));
jobCallback(orderTotal, 'tax', (args) => ({ tax: Math.round((args.subtotal ?? 0) * 0.2) }));
jobCallback(orderTotal, 'receipt', (args, ctx) => {
  args.receipt = `#${ctx.id.slice(-6)}: ${args.subtotal} + ${args.tax} tax`; // mutated: seen too
});

export type Charge = {
  card: string;
  amount: number;
  chargedOn?: number;
};

/** Fails twice with a transient error, then succeeds: retries start again from the enqueued args. */
export const charge = job('payment.charge', (args: Charge, ctx) => {
  if (ctx.attempt < 3) throw new Error(`card network timeout (attempt ${ctx.attempt})`);
  return { chargedOn: ctx.attempt };
});
jobErrback(charge, 'log', (args, ctx) => {
  // Errbacks run after every failed attempt; the error feedback comes only after the last.
  node(`errback 'log': attempt ${ctx.attempt} failed: ${args.error.message}`);
});

export type Refund = {
  card: string;
  amount: number;
  customerNotified?: boolean;
};

/** Fails for good at once: UnrecoverableJobError skips the remaining attempts. */
export const refund = job('payment.refund', (args: Refund) => {
  if (args.card === 'expired')
    throw new UnrecoverableJobError(`card ${args.card} cannot be refunded`);
});
jobErrback(refund, 'notify', (args) => {
  node(`errback 'notify': ${args.error.code}, telling the customer`);
  return { customerNotified: true }; // merged: reaches the error feedback
});
