import { createHash, createPrivateKey, sign as rsaSign, type KeyObject } from 'node:crypto';
import { activeDkimKey, headerFields, splitMessage, type DkimKeyDeps } from '@mailyard/core';

/**
 * DKIM signing (RFC 6376: rsa-sha256, relaxed/relaxed) with the domain's active key from the
 * store (sealed at rest: `activeDkimKey` opens it with the install's SECRET_KEY or DATA_DIR/secret.key).
 * The private key is parsed once per key (a KeyObject, cached briefly so a rotation takes
 * effect within `ttlMs`), and the RSA operation runs on libuv's thread pool (the async form of
 * crypto.sign), off the event loop that talks SMTP. python3-dkim verifies the result in the
 * system tests.
 */

/** Header fields signed when present (RFC 6376 5.4.1's list of fields worth signing). */
const SIGNED_FIELDS = [
  'from',
  'sender',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'to',
  'cc',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-id',
  'content-description',
  'in-reply-to',
  'references',
  'list-id',
  'list-help',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'list-subscribe',
  'list-post',
  'list-owner',
  'list-archive',
];

/** Fields signed once more than they occur, so none can be added after signing. */
const OVERSIGNED_FIELDS = new Set(['from']);

/** RFC 6376 3.4.4: WSP runs to one space, no WSP at line ends, no empty lines at the end. */
export function relaxedBody(body: Buffer): Buffer {
  const text = body.toString('latin1');
  // Most bodies (ours are built by nodemailer) are canonical already: CRLF line ends, no tabs, no
  // double spaces, no space before a line end. Then only the empty lines at the end go.
  if (!/\t| {2}| \r?\n| $|(?:^|[^\r])\n/.test(text)) {
    const trimmed = text.replace(/(?:\r\n)+$/, '');
    return trimmed.length === 0 ? Buffer.alloc(0) : Buffer.from(`${trimmed}\r\n`, 'latin1');
  }
  const lines = text.split(/\r?\n/);
  const out = lines.map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out.length === 0 ? Buffer.alloc(0) : Buffer.from(`${out.join('\r\n')}\r\n`, 'latin1');
}

/** RFC 6376 3.4.2: lower-case name, unfolded value with WSP runs as one space, trimmed. */
export function relaxedHeader(name: string, rawField: string): string {
  const value = rawField
    .slice(rawField.indexOf(':') + 1)
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/[ \t]+/g, ' ')
    .trim();
  return `${name.toLowerCase()}:${value}`;
}

/**
 * The tag list folded into lines of at most ~76 characters. FWS may go anywhere inside the
 * base64 of b= and bh=, but in h= only around the colons (RFC 6376 3.5), so h= breaks there.
 * (Relaxed canonicalization unfolds, so where the lines break does not change the signature.)
 */
function foldSignature(tags: Array<[string, string]>): string {
  // Atoms in order; `attach`: continues the previous atom's value (no space when on one line).
  const atoms: Array<{ text: string; attach: boolean }> = [];
  tags.forEach(([k, v], i) => {
    const end = i === tags.length - 1 ? '' : ';';
    if (k === 'h') {
      const names = v.split(':');
      names.forEach((n, j) => atoms.push({ text: `${j === 0 ? 'h=' : ''}${n}${j === names.length - 1 ? end : ':'}`, attach: j > 0 }));
    } else if (k === 'b' || k === 'bh') {
      const text = `${k}=${v}${end}`;
      for (let at = 0; at < text.length; at += 64) atoms.push({ text: text.slice(at, at + 64), attach: at > 0 });
    } else {
      atoms.push({ text: `${k}=${v}${end}`, attach: false });
    }
  });
  let out = 'DKIM-Signature:';
  let line = out.length;
  for (const atom of atoms) {
    const glue = atom.attach ? '' : ' ';
    if (line + glue.length + atom.text.length > 76) {
      out += `\r\n\t${atom.text}`;
      line = 1 + atom.text.length;
    } else {
      out += glue + atom.text;
      line += glue.length + atom.text.length;
    }
  }
  return out;
}

export interface SigningKey {
  domain: string;
  selector: string;
  key: KeyObject;
}

/** The message with a DKIM-Signature field for `key` prepended (the bytes after it unchanged). */
export async function dkimSign(raw: Buffer, key: SigningKey, now = new Date()): Promise<Buffer> {
  const { header, body } = splitMessage(raw);
  const fields = headerFields(header);
  // Each present field once per occurrence, the last occurrence first (RFC 6376 5.4.2). From is
  // listed once more than it occurs (oversigned): a name with no field left to match hashes as
  // nothing, so a From added after signing, above or below, breaks the signature (RFC 6376 8.15).
  const signed: Array<{ name: string; raw: string | null }> = [];
  for (const name of SIGNED_FIELDS) {
    const occurrences = fields.filter((f) => f.name === name);
    for (let i = occurrences.length - 1; i >= 0; i--) signed.push({ name, raw: occurrences[i]!.raw });
    if (OVERSIGNED_FIELDS.has(name)) signed.push({ name, raw: null });
  }
  const bodyHash = createHash('sha256').update(relaxedBody(body)).digest('base64');
  const tags: Array<[string, string]> = [
    ['v', '1'],
    ['a', 'rsa-sha256'],
    ['c', 'relaxed/relaxed'],
    ['d', key.domain],
    ['s', key.selector],
    ['t', String(Math.floor(now.getTime() / 1000))],
    ['h', signed.map((f) => f.name).join(':')],
    ['bh', bodyHash],
    ['b', ''],
  ];
  const unsigned = foldSignature(tags);
  const present = signed.flatMap((f) => (f.raw === null ? [] : [relaxedHeader(f.name, f.raw)]));
  const hashed = [...present, relaxedHeader('dkim-signature', unsigned)].join('\r\n');
  const signature = await new Promise<Buffer>((resolve, reject) =>
    rsaSign('sha256', Buffer.from(hashed, 'latin1'), key.key, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
  tags[tags.length - 1] = ['b', signature.toString('base64')];
  return Buffer.concat([Buffer.from(`${foldSignature(tags)}\r\n`, 'latin1'), raw]);
}

export class DkimSigner {
  private readonly cache = new Map<string, { key: SigningKey | null; until: number }>();

  constructor(
    private readonly keys: DkimKeyDeps,
    private readonly ttlMs = 60_000,
  ) {}

  private async keyFor(domain: string): Promise<SigningKey | null> {
    const hit = this.cache.get(domain);
    if (hit && hit.until > Date.now()) return hit.key;
    const stored = await activeDkimKey(this.keys, domain);
    const key = stored ? { domain: stored.domain, selector: stored.selector, key: createPrivateKey(stored.privateKeyPem) } : null;
    this.cache.set(domain, { key, until: Date.now() + this.ttlMs });
    return key;
  }

  /** The message signed for `domain`; unchanged when the domain has no key. */
  async sign(raw: Buffer, domain: string | null): Promise<{ raw: Buffer; selector: string | null }> {
    if (!domain) return { raw, selector: null };
    const key = await this.keyFor(domain.toLowerCase());
    if (!key) return { raw, selector: null };
    return { raw: await dkimSign(raw, key), selector: key.selector };
  }
}
