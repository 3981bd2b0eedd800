/**
 * The logging shape the library writes to: a subset of pino's, so a pino logger (or
 * `console`-like adapter) can be passed in. Silent by default: a library should not print.
 */
export interface Logger {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

const noop = (): void => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
