import crypto from 'node:crypto';
import net from 'node:net';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createOutputDeflater } from './deflate.js';

/**
 * The server's DEFLATE output: over a loopback
 * connection, a client's raw inflater reads each burst as soon as it is written (sync flush), the
 * window carries across bursts, a burst larger than one step's output comes out whole, and the end
 * is the stream's final block, then the connection's end.
 */

const sockets: net.Socket[] = [];
const servers: net.Server[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

async function socketPair(): Promise<{ server: net.Socket; client: net.Socket }> {
  const listener = net.createServer();
  servers.push(listener);
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  sockets.push(server, client);
  return { server, client };
}

/** Inflates what the client receives; `until(n)` waits (with a deadline) for n bytes of plain text in all. */
function reader(client: net.Socket) {
  const inflate = zlib.createInflateRaw();
  let text = Buffer.alloc(0);
  let ended = false;
  client.pipe(inflate);
  inflate.on('data', (chunk: Buffer) => (text = Buffer.concat([text, chunk])));
  inflate.on('end', () => (ended = true));
  const poll = async (done: () => boolean, what: string) => {
    const deadline = Date.now() + 5000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  return {
    until: async (bytes: number) => {
      await poll(() => text.length >= bytes, `${bytes} bytes`);
      return text;
    },
    ended: () => poll(() => ended, 'the end of the stream'),
  };
}

describe('the DEFLATE output', () => {
  it('makes each burst readable at once, carries the window across bursts, and ends with the final block', async () => {
    const { server, client } = await socketPair();
    const read = reader(client);
    const errors: Error[] = [];
    const deflater = createOutputDeflater(server, (err) => errors.push(err));
    const first = Buffer.from('* 1 FETCH (FLAGS (\\Seen) UID 1)\r\na1 OK FETCH completed\r\n');
    deflater.write(first);
    expect(await read.until(first.length)).toEqual(first);
    const received = client.bytesRead;
    deflater.write(first);
    expect((await read.until(2 * first.length)).subarray(first.length)).toEqual(first);
    // Said just before: a back-reference into the window, a few bytes on the wire.
    expect(client.bytesRead - received).toBeLessThan(first.length / 2);
    // Random bytes do not compress: a burst bigger than one step's output buffer.
    const big = Buffer.from(crypto.randomBytes(150_000).toString('base64'));
    deflater.write(big);
    expect((await read.until(2 * first.length + big.length)).subarray(2 * first.length)).toEqual(big);
    deflater.end();
    await read.ended();
    await new Promise<void>((resolve) => (client.readableEnded ? resolve() : client.once('end', resolve)));
    expect(errors).toEqual([]);
  });

  it('takes writes after the connection closed without failing, and sends nothing', async () => {
    const { server, client } = await socketPair();
    const errors: Error[] = [];
    const deflater = createOutputDeflater(server, (err) => errors.push(err));
    const closed = new Promise((resolve) => server.once('close', resolve));
    client.destroy();
    server.destroy();
    await closed;
    expect(deflater.write(Buffer.from('* BYE late\r\n'))).toBe(true);
    deflater.end();
    expect(errors).toEqual([]);
  });
});
