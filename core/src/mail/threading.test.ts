import { describe, expect, it } from 'vitest';
import { extractMessageIds, isReplySubject, normalizeSubject } from './threading.js';

describe('normalizeSubject', () => {
  it('strips stacked reply and forward prefixes in several languages', () => {
    expect(normalizeSubject('Re: Fwd: RE:  Quarterly   numbers')).toBe('quarterly numbers');
    expect(normalizeSubject('AW: WG: Angebot')).toBe('angebot');
    expect(normalizeSubject('SV: Re[2]: møte')).toBe('møte');
  });
  it('strips list tags', () => {
    expect(normalizeSubject('[dev-list] Re: build broken')).toBe('build broken');
  });
  it('keeps a subject that merely starts with letters like "re"', () => {
    expect(normalizeSubject('Report for March')).toBe('report for march');
    expect(normalizeSubject('Regarding: invoice')).toBe('regarding: invoice');
  });
});

describe('isReplySubject', () => {
  it('recognises replies and forwards', () => {
    expect(isReplySubject('Re: hi')).toBe(true);
    expect(isReplySubject('[list] Fwd: hi')).toBe(true);
    expect(isReplySubject('Hello')).toBe(false);
    expect(isReplySubject('Report')).toBe(false);
  });
});

describe('extractMessageIds', () => {
  it('reads every bracketed id, once each', () => {
    expect(extractMessageIds('<a@x> <b@y>\r\n <a@x>')).toEqual(['<a@x>', '<b@y>']);
    expect(extractMessageIds(['<a@x>', '<c@z>'])).toEqual(['<a@x>', '<c@z>']);
  });
  it('accepts bare ids from sloppy clients and ignores junk', () => {
    expect(extractMessageIds('a@x')).toEqual(['<a@x>']);
    expect(extractMessageIds('not an id')).toEqual([]);
    expect(extractMessageIds(undefined)).toEqual([]);
  });
});
