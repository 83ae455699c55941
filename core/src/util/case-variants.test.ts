import { describe, expect, it } from 'vitest';
import { caseVariants, databaseCaseVariants } from './case-variants.js';

describe('caseVariants', () => {
  it('gives the typed, lower, upper, capitalised and title-case forms, once each', () => {
    expect(caseVariants('привет')).toEqual(['привет', 'ПРИВЕТ', 'Привет']);
    expect(caseVariants('jürgen MÜLLER')).toEqual(['jürgen MÜLLER', 'jürgen müller', 'JÜRGEN MÜLLER', 'Jürgen müller', 'Jürgen Müller']);
    expect(caseVariants('東京')).toEqual(['東京']);
  });
});

describe('databaseCaseVariants', () => {
  it('leaves out the forms that differ only in ASCII case, which the database folds itself', () => {
    expect(databaseCaseVariants('Meeting')).toEqual(['Meeting']);
    expect(databaseCaseVariants('привет')).toEqual(['привет', 'ПРИВЕТ', 'Привет']);
    // 'Jürgen' differs from 'jürgen' only in the ASCII J: one operand covers both.
    expect(databaseCaseVariants('jürgen')).toEqual(['jürgen', 'JÜRGEN']);
  });
});
