/**
 * What a mailbox file says about a message besides its bytes: the folder and the flags.
 *
 * In an mbox they travel as header fields put at the top of the message on export and taken off
 * again on import: `X-Mailyard-Folder` (the folder's name, "/" between levels), `Status` and
 * `X-Status` (the mutt/Thunderbird letters: R seen, A answered, F flagged, T draft, D deleted) and
 * `X-Keywords` (other keywords, as Dovecot writes them). In a Maildir they are the file name's
 * info letters (`:2,DFPRST`).
 */

const STATUS_FIELDS = /^(x-mailyard-folder|status|x-status|x-keywords):/i;

export interface MessageMetadata {
  folder: string | null;
  flags: string[];
}

function headerEnd(raw: Buffer): number {
  const crlf = raw.indexOf('\r\n\r\n');
  return crlf >= 0 ? crlf + 2 : raw.length;
}

/** Reads and removes the metadata fields from the header; the rest of the message is left byte for byte. */
export function takeMetadata(raw: Buffer): { raw: Buffer; metadata: MessageMetadata } {
  const end = headerEnd(raw);
  const header = raw.toString('latin1', 0, end);
  const kept: string[] = [];
  let folder: string | null = null;
  const flags = new Set<string>();
  let skipping = false;
  let found = false;
  for (const line of header.split(/(?<=\r\n)/)) {
    if (/^[ \t]/.test(line)) {
      if (!skipping) kept.push(line); // a folded line goes with its field
      continue;
    }
    skipping = STATUS_FIELDS.test(line);
    if (!skipping) {
      kept.push(line);
      continue;
    }
    found = true;
    const [name, ...rest] = line.split(':');
    const value = rest.join(':').trim();
    switch (name!.toLowerCase()) {
      case 'x-mailyard-folder':
        folder = decodeFolder(value);
        break;
      case 'status':
        if (value.includes('R')) flags.add('\\Seen');
        break;
      case 'x-status':
        for (const [letter, flag] of [['A', '\\Answered'], ['F', '\\Flagged'], ['T', '\\Draft'], ['D', '\\Deleted']] as const) if (value.includes(letter)) flags.add(flag);
        break;
      case 'x-keywords':
        for (const keyword of value.split(/[\s,]+/)) if (/^[^\s\\()]+$/.test(keyword)) flags.add(keyword);
        break;
    }
  }
  if (!found) return { raw, metadata: { folder: null, flags: [] } };
  return { raw: Buffer.concat([Buffer.from(kept.join(''), 'latin1'), raw.subarray(end)]), metadata: { folder, flags: [...flags] } };
}

/** The metadata fields to put at the top of an exported message. */
export function metadataHeader(metadata: MessageMetadata): string {
  const has = (flag: string) => metadata.flags.includes(flag);
  const xStatus = [['\\Answered', 'A'], ['\\Flagged', 'F'], ['\\Draft', 'T'], ['\\Deleted', 'D']].filter(([flag]) => has(flag!)).map(([, letter]) => letter).join('');
  const keywords = metadata.flags.filter((f) => !f.startsWith('\\'));
  return [
    metadata.folder !== null ? `X-Mailyard-Folder: ${encodeFolder(metadata.folder)}\r\n` : '',
    `Status: ${has('\\Seen') ? 'RO' : 'O'}\r\n`,
    xStatus ? `X-Status: ${xStatus}\r\n` : '',
    keywords.length > 0 ? `X-Keywords: ${keywords.join(' ')}\r\n` : '',
  ].join('');
}

/** Folder names may hold any Unicode: in a header they travel percent-encoded (UTF-8) where not plain ASCII. */
function encodeFolder(name: string): string {
  return name.replace(/[^\x21-\x7e ]|%/gu, (c) => encodeURIComponent(c));
}

function decodeFolder(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Maildir info letters (`:2,FS`) as flags. */
export function maildirFlags(info: string): string[] {
  const letters: Record<string, string> = { D: '\\Draft', F: '\\Flagged', P: '$Forwarded', R: '\\Answered', S: '\\Seen', T: '\\Deleted' };
  return [...new Set([...info].map((c) => letters[c]).filter((f): f is string => f !== undefined))];
}

/** LF or CRLF in, CRLF out (messages are stored with CRLF). */
export function toCrlf(raw: Buffer): Buffer {
  if (raw.indexOf('\n') < 0) return raw;
  const text = raw.toString('latin1');
  return /(?<!\r)\n/.test(text) ? Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1') : raw;
}
