import { describe, expect, it } from 'vitest';
import { matchPrefix, matchUntagged, tokenize, type Vars } from './match.js';
import { parseMbox, parseScript } from './script.js';

/** The imaptest runner's own rules: script parsing and reply matching. */

const reply = (text: string) => tokenize(text);

describe('imaptest reply matching', () => {
  it('binds a variable on first use and compares it after', () => {
    const vars: Vars = new Map();
    expect(matchUntagged('1 fetch (uid $uid1)', reply('1 FETCH (UID 7)'), vars)).toBe(true);
    expect(vars.get('uid1')).toBe('7');
    expect(matchUntagged('1 fetch (uid $uid1)', reply('1 FETCH (UID 8)'), vars)).toBe(false);
    expect(matchUntagged('status $mailbox (messages 2)', reply('STATUS "box" (MESSAGES 2)'), new Map([['mailbox', 'box']]))).toBe(true);
  });

  it('matches FETCH items in any order with extras, and FLAGS exactly but for \\Recent', () => {
    const vars: Vars = new Map();
    expect(matchUntagged('2 fetch (flags (\\seen) uid 4)', reply('2 FETCH (UID 4 MODSEQ (9) FLAGS (\\Seen))'), vars)).toBe(true);
    expect(matchUntagged('2 fetch (flags (\\seen))', reply('2 FETCH (FLAGS (\\Seen \\Flagged))'), vars)).toBe(false);
    expect(matchUntagged('2 fetch (flags (\\seen))', reply('2 FETCH (FLAGS (\\Recent \\Seen))'), vars)).toBe(true);
    expect(matchUntagged('2 search 1 2', reply('SEARCH 1 2 3'), vars)).toBe(false);
  });

  it('matches response text by its beginning, literals by content, and $!ban', () => {
    const vars: Vars = new Map();
    expect(matchUntagged('ok [uidvalidity $v]', reply('OK [UIDVALIDITY 5] UIDs valid'), vars)).toBe(true);
    expect(matchPrefix('[read-write]', reply('[READ-WRITE] SELECT completed'), vars)).toBe(true);
    expect(matchUntagged('1 fetch (body[text] {3}\r\nabc)', reply('1 FETCH (BODY[TEXT] "abc")'), vars)).toBe(true);
    expect(matchUntagged('list ($!unordered $!ban=\\subscribed) / a', reply('LIST (\\Subscribed) "/" a'), vars)).toBe(false);
    expect(matchUntagged('list ($!unordered $!ban=\\subscribed) / a', reply('LIST (\\HasNoChildren) "/" a'), vars)).toBe(true);
  });
});

describe('imaptest scripts', () => {
  it('reads headers, the three command forms, literals and connection numbers', () => {
    const script = parseScript(
      'demo',
      ['connections: 2', 'state: auth', '', '1 ok select $mailbox', '* 0 exists', '', '2 status $mailbox (messages)', '* status $mailbox (messages 0)', '2 ok', '', '1 t1 noop', '1 t2 append $mailbox {{{', 'hi', '}}}', '1 t1 ok', '1 t2 no [trycreate]', '? optional', '! 1 expunge'].join('\n'),
      parseMbox('From a@b  Sat Mar 24 23:00:00 2007 +0200\nSubject: x\n\nbody\n'),
    );
    expect(script).toMatchObject({ connections: 2, state: 'auth', messages: undefined });
    expect(script.steps.map((s) => [s.connection, s.commands.map((c) => [c.tag, c.text, c.status, c.prefix])])).toEqual([
      [1, [[null, 'select $mailbox', 'ok', '']]],
      [2, [[null, 'status $mailbox (messages)', 'ok', '']]],
      [1, [['t1', 'noop', 'ok', ''], ['t2', 'append $mailbox {2}\r\nhi', 'no', '[trycreate]']]],
    ]);
    expect(script.steps[2]!.banned.map((b) => b.text)).toEqual(['1 expunge']);
    expect(script.mbox).toEqual([{ raw: Buffer.from('Subject: x\r\n\r\nbody\r\n'), internalDate: '24-Mar-2007 23:00:00 +0200' }]);
  });
});
