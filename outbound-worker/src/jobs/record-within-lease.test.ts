import { describe, expect, it } from 'vitest';
import { silentLogger, type DeliveryOutcome } from '@mailyard/core';
import { recordWithinLease } from './deliver.job.js';

const decided: DeliveryOutcome[] = [{ deliveryId: 7, leaseToken: 'w#1', status: 'delivered', reply: '250 2.0.0 ok', remoteMta: 'mx.remote.test' }];

describe('recording outcomes while the store is restarting', () => {
  it('retries until the store answers, within the lease', async () => {
    let calls = 0;
    const record = async () => {
      calls += 1;
      if (calls < 3) throw new Error('Connection terminated unexpectedly');
      return [];
    };
    expect(await recordWithinLease({ record, log: silentLogger() }, decided, Date.now() + 30_000)).toEqual([]);
    expect(calls).toBe(3);
  });

  it('gives up before the lease ends, when another worker may claim the recipients', async () => {
    let calls = 0;
    const record = async (): Promise<number[]> => {
      calls += 1;
      throw new Error('Connection terminated unexpectedly');
    };
    await expect(recordWithinLease({ record, log: silentLogger() }, decided, Date.now() + 2_500)).rejects.toThrow('Connection terminated');
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});
