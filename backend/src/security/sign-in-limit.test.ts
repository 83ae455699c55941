import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, type TestBackend } from '../../../tests/helpers/backend.js';

/**
 * The per-IP web sign-in limit, end to end over the API: one address guessing across many real
 * accounts (one wrong password each, so no account's own limit is reached) is stopped by its IP's
 * count, and then even a right password from that IP gets 429; another IP is not affected.
 */

let t: TestBackend;
const ACCOUNTS = 40;

beforeAll(async () => {
  t = await createTestBackend();
  await t.accounts.addDomain('spray.test');
  for (let i = 0; i < ACCOUNTS; i++) await t.accounts.addUser({ address: `user${i}@spray.test`, password: `password of user ${i}` });
});
afterAll(async () => {
  await t?.close();
});

const login = (address: string, password: string, ip: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { address, password } });

describe('per-IP sign-in limit', () => {
  it('answers 429 auth.rate_limited to one IP after 30 failures over 30 different accounts, right password included; another IP still signs in', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 35; i++) codes.push((await login(`user${i}@spray.test`, 'a password spray', '192.0.2.7')).statusCode);
    expect(codes.slice(0, 30)).toEqual(Array(30).fill(401));
    expect(codes.slice(30)).toEqual(Array(5).fill(429));

    const right = await login('user39@spray.test', 'password of user 39', '192.0.2.7');
    expect(right.statusCode).toBe(429);
    expect(right.json()).toMatchObject({ error: { code: 'auth.rate_limited' } });
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
    // The accounts themselves were not locked: the same right password from another IP works.
    expect((await login('user39@spray.test', 'password of user 39', '192.0.2.8')).statusCode).toBe(200);
    expect((await login('user0@spray.test', 'password of user 0', '192.0.2.8')).statusCode).toBe(200);
  });
});
