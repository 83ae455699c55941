import { describe, expect, it } from 'vitest';
import { mailDocument } from './mail-frame';

/** The img-src sources of the document's CSP. */
function imageSources(doc: string): string[] {
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(doc)![1]!;
  return /img-src ([^;]*)/.exec(csp)![1]!.split(' ');
}

describe('mailDocument', () => {
  it('allows images only from data: and this server until the user asks for remote ones', () => {
    const doc = mailDocument('<p>hi</p>', { remoteImages: false, origin: 'https://mail.example' });
    expect(doc).toContain("default-src 'none'");
    expect(imageSources(doc)).toEqual(['data:', 'https://mail.example']);
    expect(doc).toContain('<body><p>hi</p></body>');
  });

  it('adds https: images once the user asked, and never plain http:', () => {
    expect(imageSources(mailDocument('', { remoteImages: true, origin: 'https://mail.example' }))).toEqual(['data:', 'https://mail.example', 'https:']);
  });
});
