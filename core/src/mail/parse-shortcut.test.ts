import { describe, expect, it } from 'vitest';
import { snippetOf, summarizeFully, summarizeMessage } from './parse.js';

/**
 * The summary's shortcuts give exactly what the long way gives: summarizeMessage reads plain-text
 * mail without the full MIME parse (on every kind of message, the shortcut's own and those it must
 * hand to the full parse, the summary is the full parse's), and snippetOf reads only a prefix of
 * the text.
 */

const crlf = (...lines: string[]) => Buffer.from(lines.join('\r\n'));
const head = ['From: "Ann Example" <Ann@Example.org>', 'To: bob@example.net, team: c@example.net, d@example.net;', 'Cc: undisclosed-recipients:;', 'Date: Sun, 6 Dec 2026 19:45:00 +0000', 'Message-ID: <m1@example.org>', 'In-Reply-To: <m0@example.org>', 'References: <a@x> <m0@example.org>', 'Subject: Re: Quarterly =?UTF-8?Q?r=C3=A9sum=C3=A9?= =?UTF-8?B?8J+Ygg==?=', '  folded part'];

const cases: Record<string, Buffer> = {
  'plain, no MIME headers (smtp-source)': crlf('From: <sender@client.source.test>', 'To: <user@bench.test>', 'Date: Sun, 6 Dec 2026 19:45:00 +0000 (UTC)', 'Message-Id: <1.2@client.source.test>', 'Subject: La de da', '', 'La de da de da 1.', 'La de da de da 2.', ''),
  'plain with MIME headers, UTF-8 8bit': crlf(...head, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset="UTF-8"', 'Content-Transfer-Encoding: 8bit', '', 'Grüße aus Köln — 東京', '..dot line', '  indented  ', ''),
  'plain, us-ascii 7bit, no final line break': crlf(...head, 'Content-Type: TEXT/PLAIN; charset=us-ascii', 'Content-Transfer-Encoding: 7BIT', '', 'no final newline'),
  'plain, empty body': crlf(...head, '', ''),
  'plain, nothing after the blank line': crlf(...head, ''),
  'plain, invalid UTF-8, NUL and lone CR in the body': Buffer.concat([crlf(...head, '', 'bad: '), Buffer.from([0xff, 0xfe, 0xc3, 0x00, 0x0d, 0x41, 0x0a, 0x42, 0x0d, 0x0a])]),
  'plain, LF line breaks only': Buffer.from([...head, '', 'line 1', 'line 2', ''].join('\n')),
  'plain, LF header block ending in CRLF blank line': Buffer.from([...head].join('\n') + '\n\r\nbody\r\n'),
  'plain, long lines': crlf(...head, '', 'x'.repeat(5000), 'y '.repeat(3000), ''),
  'plain, unparseable date and missing subject': crlf('From: a@b.test', 'Date: yesterday-ish', '', 'body', ''),
  'plain, duplicated Content-Type': crlf(...head, 'Content-Type: text/plain; charset=utf-8', 'Content-Type: text/html', '', '<b>not html</b>', ''),
  'latin-1 charset (full parse)': Buffer.concat([crlf(...head, 'Content-Type: text/plain; charset=iso-8859-1', '', 'caf'), Buffer.from([0xe9, 0x0d, 0x0a])]),
  'quoted-printable (full parse)': crlf(...head, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', 'caf=C3=A9 soft=', 'break', ''),
  'base64 (full parse)': crlf(...head, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64', '', Buffer.from('hello base64\n').toString('base64'), ''),
  'format=flowed (full parse)': crlf(...head, 'Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes', '', 'a flowed  ', 'line', ''),
  'text/plain as an attachment (full parse)': crlf(...head, 'Content-Type: text/plain; name="a.txt"', 'Content-Disposition: attachment; filename="a.txt"', '', 'file content', ''),
  'HTML only (full parse)': crlf(...head, 'Content-Type: text/html; charset=utf-8', '', '<html><body><p>Hello <b>there</b> &amp; welcome</p><script>x()</script></body></html>', ''),
  'multipart/alternative (full parse)': crlf(...head, 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="b1"', '', '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'plain part', '--b1', 'Content-Type: text/html', '', '<p>html part</p>', '--b1--', ''),
  'multipart/mixed with an attachment (full parse)': crlf(...head, 'Content-Type: multipart/mixed; boundary=zz', '', '--zz', 'Content-Type: text/plain', '', 'see attached', '--zz', 'Content-Type: application/pdf; name="r.pdf"', 'Content-Disposition: attachment; filename="=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?="', 'Content-Transfer-Encoding: base64', '', 'JVBERi0xLjQK', '--zz--', ''),
  'broken multipart, boundary never appears (full parse)': crlf(...head, 'Content-Type: multipart/mixed; boundary=missing', '', 'text without parts', ''),
  'body only, no headers (full parse)': crlf('just a body line', 'and another', ''),
  'mbox From line (full parse)': crlf('From sender@example.org Sun Dec  6 19:45:00 2026', ...head, '', 'body', ''),
  'starts with a blank line (full parse)': crlf('', 'body after nothing', ''),
  'no blank line at all': crlf(...head),
  'garbage bytes': Buffer.from([0x00, 0x01, 0xff, 0x3a, 0x0a, 0x0a, 0x80]),
};

describe('summarizeMessage: the plain-text shortcut', () => {
  it.each(Object.entries(cases))('gives the full parse’s summary: %s', async (_name, raw) => {
    expect(await summarizeMessage(raw)).toEqual(await summarizeFully(raw));
  });

  it('reads the body of plain-text mail as text with LF line breaks', async () => {
    const s = await summarizeMessage(cases['plain, invalid UTF-8, NUL and lone CR in the body']!);
    expect(s.bodyText).toBe('bad: \ufffd\ufffd\ufffd\rA\nB\n');
    expect(s.subject).toBe('Re: Quarterly résumé😂 folded part');
  });
});

describe('snippetOf', () => {
  const reference = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 200);
  const texts: string[] = [
    '',
    '   ',
    ' \t\r\n\u00a0\u2028\u3000\ufeff ',
    'short text',
    ' '.repeat(5000) + 'late start ' + 'word '.repeat(100),
    'x'.repeat(1023) + ' '.repeat(3000) + 'y'.repeat(300),
    'a '.repeat(511) + '\n'.repeat(10) + 'b'.repeat(500),
    '😂'.repeat(700),
    'x'.repeat(199) + ' ' + 'z',
    'x'.repeat(199) + '      ',
    'a'.repeat(199) + ' '.repeat(825) + 'b', // the first prefix collapses to 200 characters ending in a space
  ];
  // Words and whitespace runs of every length around the prefix sizes snippetOf tries.
  for (let seed = 1; seed <= 200; seed++) {
    let text = '';
    let n = seed;
    while (text.length < 6000) {
      n = (n * 1103515245 + 12345) % 2147483648;
      text += n % 3 === 0 ? ' \t\n\u00a0'.slice(0, 1 + (n % 4)).repeat(1 + (n % 400)) : 'é'.repeat(1 + (n % 7)) + 'w'.repeat(n % 50);
    }
    texts.push(text);
  }

  it('is the collapsed, trimmed text cut to 200 characters', () => {
    for (const text of texts) expect(snippetOf(text)).toBe(reference(text));
  });
});
