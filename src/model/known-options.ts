import { InvalidArgumentError } from '../errors.ts';

/**
 * Every key an options object may have, as a record so the compiler checks it against the
 * options type (`satisfies Record<keyof T, true>`): an option added to the type and not
 * here fails to compile, and an unknown one fails at run time.
 */
export type OptionKeys<T> = Record<keyof T, true>;

/**
 * Option names from the peers (BullMQ, Bee-Queue) that users try first, with what to use
 * here. Keys are what they typed; values say what to write instead.
 */
export type PeerHints = Readonly<Record<string, string>>;

/**
 * Throws InvalidArgumentError naming the first key of `options` that is not in `known`: a
 * misspelt or foreign option is silently ignored otherwise (`{ delay: 2000 }` ran at once).
 * The message says what to use for a peer's name (`hints`) or a near miss (`maxAttempts`
 * → `maxAttempt`). Cheap when every key is known: one `in` test per key.
 */
export function assertKnownOptions(
  options: object,
  known: Readonly<Record<string, true>>,
  what: string,
  hints: PeerHints = {},
): void {
  for (const key in options) {
    if (Object.hasOwn(known, key)) continue;
    if (!Object.hasOwn(options, key)) continue;
    throw new InvalidArgumentError(unknownKeyMessage(key, known, what, hints));
  }
}

function unknownKeyMessage(
  key: string,
  known: Readonly<Record<string, true>>,
  what: string,
  hints: PeerHints,
): string {
  const head = `unknown ${what} option '${key}'`;
  const hint = Object.hasOwn(hints, key) ? hints[key] : undefined;
  if (hint !== undefined) return `${head}: ${hint}`;
  const near = nearest(key, Object.keys(known));
  if (near !== undefined) return `${head}: did you mean '${near}'?`;
  return `${head} (known: ${Object.keys(known).sort().join(', ')})`;
}

/** The known key closest to `key`, if it is a near miss (case, a letter or two). */
function nearest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.floor(key.length / 3));
  for (const k of known) {
    if (k.toLowerCase() === lower) return k;
    const d = distance(lower, k.toLowerCase(), bestDistance);
    if (d <= bestDistance && (best === undefined || d < bestDistance)) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, or more than `limit` as soon as it must be. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      row.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length]!;
}

/** `value` when it is a whole number ≥ `min` (a safe integer), else InvalidArgumentError naming `option`. */
export function wholeNumberOption(option: string, value: unknown, min: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new InvalidArgumentError(
      `${option} must be a whole number ≥ ${min} (got ${String(value)})`,
    );
  }
  return value as number;
}
