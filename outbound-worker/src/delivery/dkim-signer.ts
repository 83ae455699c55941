import DKIM from 'nodemailer/lib/dkim';
import { activeDkimKey, type Db, type DkimSigningKey } from '@mailyard/core';

/**
 * DKIM signing (rsa-sha256, relaxed/relaxed, nodemailer's signer) with the domain's active key
 * from the store. Keys are cached briefly so a busy queue does not read the key per message,
 * while a rotation takes effect within `ttlMs`.
 */
export class DkimSigner {
  private readonly cache = new Map<string, { key: DkimSigningKey | null; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 60_000,
  ) {}

  private async keyFor(domain: string): Promise<DkimSigningKey | null> {
    const hit = this.cache.get(domain);
    if (hit && hit.until > Date.now()) return hit.key;
    const key = await activeDkimKey(this.db, domain);
    this.cache.set(domain, { key, until: Date.now() + this.ttlMs });
    return key;
  }

  /** The message with a DKIM-Signature for `domain` prepended; unchanged when the domain has no key. */
  async sign(raw: Buffer, domain: string | null): Promise<{ raw: Buffer; selector: string | null }> {
    if (!domain) return { raw, selector: null };
    const key = await this.keyFor(domain.toLowerCase());
    if (!key) return { raw, selector: null };
    const signer = new DKIM({ domainName: key.domain, keySelector: key.selector, privateKey: key.privateKeyPem, cacheDir: false });
    const chunks: Buffer[] = [];
    const stream = signer.sign(raw);
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return { raw: Buffer.concat(chunks), selector: key.selector };
  }
}
