// The jobs the `jobreactor demo` nodes run. Plain job files, like an application's.
import { job, jobCallback, jobErrback } from '../../index.ts';

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });

/** An instant job: squares a number and says which node did it. */
job('demo.square', async (args: { n: number; square?: number; node?: string }, ctx) => {
  await sleep(20, ctx.signal);
  args.square = args.n * args.n;
  args.node = ctx.node;
});

/** A callbacks chain: every step sees (and adds to) the same args, which travel back. */
job('demo.order', (args: { items: number[] }) => ({
  subtotal: args.items.reduce((a, b) => a + b, 0),
}));
jobCallback('demo.order', 'tax', (args) => ({ tax: Math.round((args.subtotal as number) * 0.2) }));
jobCallback('demo.order', 'receipt', (args, ctx) => ({
  receipt: `order ${ctx.id.slice(-6)}: ${args.subtotal as number} + ${args.tax as number} tax`,
}));

/** Fails every attempt; its errback records what it saw. */
job('demo.flaky', (_args: { attempts?: number }, ctx) => {
  throw new Error(`flaky failure on attempt ${ctx.attempt}`);
});
jobErrback('demo.flaky', 'report', (args) => ({
  reported: `errback saw: ${(args.error as { message: string }).message}`,
}));

/** Reports where it ran (routing demo). */
job('demo.where', (args: { node?: string }, ctx) => {
  args.node = ctx.node;
});

/** A slow job, to be caught running when a node dies. */
job('demo.slow', async (args: { ms: number; node?: string }, ctx) => {
  await sleep(args.ms, ctx.signal);
  args.node = ctx.node;
});
