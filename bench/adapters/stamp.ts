import { wallNow } from '../lib/clock.ts';
import type { Stamp } from './types.ts';

/** The stamping processor's result (see `Stamp`). */
export function stamp(i: number, due: number): Stamp {
  const s = wallNow();
  return { i, s, d: due, e: Date.now() < due ? 1 : 0 };
}
