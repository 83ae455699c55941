import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EICAR, EICAR_SIGNATURE, startClamd, type TestClamd } from '../../../../tests/helpers/clamd.js';
import { closedPort } from '../../../../tests/helpers/smtp-test-env.js';
import { clamdAddress, createClamdScanner, parseClamdReply } from './virus-scan.js';

/** The INSTREAM client against a real, private clamd (tests/helpers/clamd.ts) with an EICAR signature. */

let clamd: TestClamd;

beforeAll(async () => {
  clamd = await startClamd();
});
afterAll(async () => {
  await clamd?.stop();
});

/** A message with `content` as a base64 attachment. */
function messageWith(content: string): Buffer {
  const body = Buffer.from(content).toString('base64');
  return Buffer.from(
    [
      'From: ann@far.test',
      'To: bob@in.test',
      'Subject: see attached',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'Please open the attachment.',
      '--b1',
      'Content-Type: application/octet-stream; name="file.com"',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="file.com"',
      '',
      body,
      '--b1--',
      '',
    ].join('\r\n'),
  );
}

describe('clamd INSTREAM', () => {
  it('parses the replies clamd sends', () => {
    expect(parseClamdReply('stream: OK\0')).toEqual({ status: 'clean' });
    expect(parseClamdReply('stream: Eicar-Test-Signature FOUND\0')).toEqual({ status: 'infected', name: 'Eicar-Test-Signature' });
    expect(parseClamdReply('INSTREAM size limit exceeded. ERROR\0')).toEqual({ status: 'error', message: 'INSTREAM size limit exceeded. ERROR' });
    expect(parseClamdReply('')).toMatchObject({ status: 'error' });
  });

  it('does not send clamd a message over its size limit: unscanned, not an error the MX would tempfail forever', async () => {
    const scanner = createClamdScanner({ socket: clamd.socket, maxBytes: 200 });
    const big = messageWith(EICAR);
    expect(big.length).toBeGreaterThan(200);
    expect(await scanner.scan(big)).toMatchObject({ status: 'unscanned' });
    // Within the limit the same scanner still scans.
    expect(await createClamdScanner({ socket: clamd.socket, maxBytes: big.length }).scan(big)).toMatchObject({ status: 'infected' });
  });

  it('reads clamd addresses as a unix path or host:port, refusing anything else', () => {
    expect(clamdAddress({ socket: '/run/clamd.sock' })).toEqual({ path: '/run/clamd.sock' });
    expect(clamdAddress({ host: '127.0.0.1:3310' })).toEqual({ host: '127.0.0.1', port: 3310 });
    expect(clamdAddress({ host: '[::1]:3310' })).toEqual({ host: '::1', port: 3310 });
    expect(() => clamdAddress({ host: 'clamd' })).toThrow(/host:port/);
  });

  it('finds EICAR in a base64 attachment over the unix socket, in small chunks', async () => {
    const result = await createClamdScanner({ socket: clamd.socket, chunkBytes: 100 }).scan(messageWith(EICAR));
    expect(result.status).toBe('infected');
    expect((result as { name: string }).name).toContain(EICAR_SIGNATURE);
  });

  it('finds a clean message clean over TCP', async () => {
    expect(await createClamdScanner({ host: clamd.host }).scan(messageWith('just a harmless file'))).toEqual({ status: 'clean' });
  });

  it('answers error, never throws, when clamd cannot be reached', async () => {
    const result = await createClamdScanner({ host: `127.0.0.1:${await closedPort()}` }).scan(messageWith(EICAR));
    expect(result).toMatchObject({ status: 'error', message: expect.stringContaining('ECONNREFUSED') });
  });
});
