/**
 * RFC 3501 ENVELOPE of a message header: date, subject, from, sender, reply-to, to, cc, bcc,
 * in-reply-to, message-id. Sender and Reply-To default to From when absent or empty. Values are
 * the headers' unfolded text; RFC 2047 encoded words stay encoded (as Dovecot sends them).
 */
import { formatAddresses, parseAddressList } from './address.js';
import { fieldValue, findField, type HeaderField } from './header.js';
import { imapNString } from './imap-string.js';

/** The parenthesized ENVELOPE of the header `fields` of `buf`. */
export function formatEnvelope(buf: Buffer, fields: HeaderField[]): string {
  const text = (name: string) => {
    const field = findField(fields, name);
    return field ? fieldValue(buf, field) : undefined;
  };
  const addresses = (name: string) => parseAddressList(text(name) ?? '');
  const from = addresses('from');
  const orFrom = (list: typeof from) => (list.length > 0 ? list : from);
  return `(${[
    imapNString(text('date')),
    imapNString(text('subject')),
    formatAddresses(from),
    formatAddresses(orFrom(addresses('sender'))),
    formatAddresses(orFrom(addresses('reply-to'))),
    formatAddresses(addresses('to')),
    formatAddresses(addresses('cc')),
    formatAddresses(addresses('bcc')),
    imapNString(text('in-reply-to')),
    imapNString(text('message-id')),
  ].join(' ')})`;
}
