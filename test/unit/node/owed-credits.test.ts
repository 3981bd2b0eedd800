import { describe, expect, it } from 'vitest';
import type { DistributorLink } from '../../../src/node/links/distributor-link.ts';
import { OwedCredits } from '../../../src/node/links/owed-credits.ts';

const link = (name: string) => ({ name }) as unknown as DistributorLink;

describe('owed credits', () => {
  it('owed credits - counted per link from arrival until taken', () => {
    const owed = new OwedCredits();
    const a = link('a');
    const b = link('b');
    owed.owe('j1', a);
    owed.owe('j2', a);
    owed.owe('j3', b);
    expect(owed.owedTo(a)).toBe(2);
    expect(owed.owedTo(b)).toBe(1);
    expect(owed.take('j1')).toBe(a);
    expect(owed.take('j1')).toBeUndefined();
    expect(owed.owedTo(a)).toBe(1);
    expect(owed.has('j2')).toBe(true);
  });

  it('owed credits - a re-sent copy moves the credit to its new link, never counted twice', () => {
    const owed = new OwedCredits();
    const a = link('a');
    const b = link('b');
    owed.owe('j1', a);
    owed.owe('j1', a);
    expect(owed.owedTo(a)).toBe(1);
    owed.owe('j1', b);
    expect(owed.owedTo(a)).toBe(0);
    expect(owed.owedTo(b)).toBe(1);
    expect(owed.take('j1')).toBe(b);
    expect(owed.owedTo(b)).toBe(0);
  });
});
