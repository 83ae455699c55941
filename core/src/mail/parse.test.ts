import { describe, expect, it } from 'vitest';
import { addressText, summarizeMessage } from './parse.js';

const mail = (...headers: string[]) => Buffer.from([...headers, 'Subject: x', '', 'body', ''].join('\r\n'));

describe('summarizeMessage: addresses', () => {
  it('keeps plain addresses as name and lower-cased address, without a group', async () => {
    const s = await summarizeMessage(mail('From: Real From <User@Domain.org>', 'To: a@b.test, "B" <b@b.test>'));
    expect(s.from).toEqual([{ name: 'Real From', address: 'user@domain.org' }]);
    expect(s.to).toEqual([
      { name: '', address: 'a@b.test' },
      { name: 'B', address: 'b@b.test' },
    ]);
  });

  it('marks the members of an RFC 5322 group with its name, in order', async () => {
    const s = await summarizeMessage(mail('From: a@b.test', 'To: groupname: groupuser1@domain.org, groupuser2@domain.org;,', '  groupname2: groupuser3@domain.org;, solo@domain.org'));
    expect(s.to).toEqual([
      { name: '', address: 'groupuser1@domain.org', group: 'groupname' },
      { name: '', address: 'groupuser2@domain.org', group: 'groupname' },
      { name: '', address: 'groupuser3@domain.org', group: 'groupname2' },
      { name: '', address: 'solo@domain.org' },
    ]);
  });

  it('keeps a group without members as one entry named after it, with no address', async () => {
    const s = await summarizeMessage(mail('From: a@b.test', 'To: undisclosed-recipients:;', 'Cc: a: x@x.org;, empty:;'));
    expect(s.to).toEqual([{ name: 'undisclosed-recipients', address: '', group: 'undisclosed-recipients' }]);
    expect(s.cc).toEqual([
      { name: '', address: 'x@x.org', group: 'a' },
      { name: 'empty', address: '', group: 'empty' },
    ]);
  });
});

describe('addressText', () => {
  it('is every name and address, and each group name once before its members', () => {
    expect(addressText([{ name: 'Real To', address: 'to@d.org' }, { name: '', address: 'x@d.org' }])).toBe('Real To to@d.org x@d.org');
    expect(
      addressText([
        { name: '', address: 'u1@d.org', group: 'team' },
        { name: 'U2', address: 'u2@d.org', group: 'team' },
        { name: 'empty', address: '', group: 'empty' },
        { name: '', address: 'solo@d.org' },
      ]),
    ).toBe('team u1@d.org U2 u2@d.org empty solo@d.org');
  });

  it('reads stored rows that have no group field as before', () => {
    expect(addressText([{ name: 'Only Name', address: '' }])).toBe('Only Name');
  });
});
