import { describe, expect, it } from 'vitest';
import { REPEAT_WINDOW_MS, foldRepeats } from '../../../src/model/log-folding.ts';
import { silentLogger, type Logger } from '../../../src/model/logger.ts';

function capture(): { logger: Logger; lines: [string, unknown, string | undefined][] } {
  const lines: [string, unknown, string | undefined][] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push([level, obj, msg]);
  return {
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    lines,
  };
}

describe('foldRepeats', () => {
  it('writes a line once per window and counts the repeats on the next one written', () => {
    let now = 0;
    const { logger, lines } = capture();
    const log = foldRepeats(logger, () => now);
    for (let i = 0; i < 5; i++) {
      log.info({ address: 'h:1', delayMs: 100 + i }, 'cannot connect; retrying');
      now += 1000;
    }
    expect(lines).toHaveLength(1);
    now = REPEAT_WINDOW_MS + 1;
    log.info({ address: 'h:1', delayMs: 7 }, 'cannot connect; retrying');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual([
      'info',
      { address: 'h:1', delayMs: 7, repeated: 4 },
      'cannot connect; retrying',
    ]);
    // The window starts over at the line written: the next one is folded, then reported.
    now += 10;
    log.info({ address: 'h:1', delayMs: 8 }, 'cannot connect; retrying');
    expect(lines).toHaveLength(2);
  });

  it('lines differing in level, message or a field (a node name) are not folded together', () => {
    const { logger, lines } = capture();
    const log = foldRepeats(logger, () => 0);
    log.info({ node: 'a' }, 'node connected');
    log.info({ node: 'b' }, 'node connected');
    log.warn({ node: 'a' }, 'node connected');
    log.info({ node: 'a' }, 'node left');
    log.info('plain text');
    log.info('plain text');
    expect(lines.map(([l, o, m]) => `${l} ${JSON.stringify(o)} ${m}`)).toEqual([
      'info {"node":"a"} node connected',
      'info {"node":"b"} node connected',
      'warn {"node":"a"} node connected',
      'info {"node":"a"} node left',
      'info "plain text" undefined',
    ]);
  });

  it('debug lines pass through, and a silent logger stays the silent logger', () => {
    const { logger, lines } = capture();
    const log = foldRepeats(logger, () => 0);
    log.debug({ a: 1 }, 'x');
    log.debug({ a: 1 }, 'x');
    expect(lines).toHaveLength(2);
    expect(foldRepeats(silentLogger, () => 0)).toBe(silentLogger);
  });

  it('fields that do not serialise (a cycle) still fold and never throw', () => {
    const { logger, lines } = capture();
    const log = foldRepeats(logger, () => 0);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    log.error({ detail: cyclic }, 'odd');
    log.error({ detail: cyclic }, 'odd');
    expect(lines).toHaveLength(1);
  });
});
