import { InvalidArgumentError } from '../errors.ts';

export interface ReconnectDelayOptions {
  /** Shortest delay, ms; also the base of the exponential. @default 100 */
  minMs?: number;
  /** Longest delay, ms. @default 5000 */
  maxMs?: number;
  /** Uniform [0, 1) source, injectable for tests. @default Math.random */
  random?: () => number;
}

/**
 * Delay before reconnect attempt `attempt` (0 for the first retry): exponential with full
 * jitter, uniform in [minMs, min(maxMs, minMs · 2^(attempt+1))]. The jitter starts at the
 * first attempt so that nodes cut off together (a distributor restart) do not all dial back
 * in the same millisecond; the floor keeps a refused dial from spinning.
 */
export function reconnectDelay(attempt: number, opts: ReconnectDelayOptions = {}): number {
  const minMs = opts.minMs ?? 100;
  const maxMs = opts.maxMs ?? 5000;
  const random = opts.random ?? Math.random;
  if (!Number.isFinite(minMs) || minMs < 0 || !Number.isFinite(maxMs) || maxMs < minMs) {
    throw new InvalidArgumentError(
      `reconnect delays need 0 <= minMs <= maxMs (got minMs ${minMs}, maxMs ${maxMs})`,
    );
  }
  // Past 2^30 the cap is reached anyway; clamping keeps 2 ** n finite.
  const n = Number.isFinite(attempt) && attempt > 0 ? Math.min(Math.floor(attempt), 30) : 0;
  const ceiling = Math.min(maxMs, minMs * 2 ** (n + 1));
  let r = random();
  if (!(r >= 0)) r = 0;
  if (r > 1) r = 1;
  return Math.round(minMs + r * (ceiling - minMs));
}
