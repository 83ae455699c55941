import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { redisTargetOptions } from '../queue/redis.js';
import { ConfigError, configuredRedisTarget, defaultSmtpProcesses, loadConfig, parseDuration, requireServiceEndpoints, schemas } from './load-config.js';

describe('loadConfig', () => {
  it('uses the npm start ports in local mode and the standard ones in a container', () => {
    expect(loadConfig(schemas.stack('local'), {})).toMatchObject({ SMTP_PORT: 2525, SUBMISSION_PORT: 2587, SMTPS_PORT: 2465, IMAP_PORT: 2143, IMAPS_PORT: 2993, HTTP_PORT: 8080, BIND_ADDRESS: '127.0.0.1' });
    expect(loadConfig(schemas.smtp('service'), {})).toMatchObject({ SMTP_PORT: 25, BIND_ADDRESS: '0.0.0.0' });
    expect(loadConfig(schemas.smtp('local'), { SMTP_PORT: '3025' }).SMTP_PORT).toBe(3025);
  });
  it('serves /api/docs and an open /metrics under npm start only; a service needs API_DOCS=on and METRICS_TOKEN', () => {
    expect(loadConfig(schemas.stack('local'), {})).toMatchObject({ API_DOCS: true, METRICS_TOKEN: 'open' });
    expect(loadConfig(schemas.http('service'), {})).toMatchObject({ API_DOCS: false, METRICS_TOKEN: 'off' });
    const token = 'a'.repeat(32);
    expect(loadConfig(schemas.http('service'), { API_DOCS: 'on', METRICS_TOKEN: token })).toMatchObject({ API_DOCS: true, METRICS_TOKEN: { token } });
    expect(loadConfig(schemas.stack('local'), { API_DOCS: 'off', METRICS_TOKEN: token })).toMatchObject({ API_DOCS: false, METRICS_TOKEN: { token } });
    expect(() => loadConfig(schemas.http('service'), { API_DOCS: 'yes', METRICS_TOKEN: 'short' })).toThrow(/API_DOCS[\s\S]*METRICS_TOKEN: must be at least 16 characters/);
  });
  it('reads ACME for every TLS service (the backend orders: Let\'s Encrypt, renew 30 days ahead, check every 12 h) and refuses a bad address', () => {
    expect(loadConfig(schemas.http('service'), {}).ACME_EMAIL).toBeUndefined();
    expect(loadConfig(schemas.http('service'), {})).toMatchObject({ ACME_DIRECTORY_URL: 'https://acme-v02.api.letsencrypt.org/directory', ACME_RENEW_BEFORE: 30 * 86_400_000, ACME_CHECK_INTERVAL: 12 * 3_600_000 });
    for (const schema of [schemas.smtp, schemas.imap, schemas.http]) expect(loadConfig(schema('service'), { ACME_EMAIL: 'admin@example.com' }).ACME_EMAIL).toBe('admin@example.com');
    expect(loadConfig(schemas.http('service'), { ACME_EMAIL: '' }).ACME_EMAIL).toBeUndefined();
    expect(() => loadConfig(schemas.http('service'), { ACME_EMAIL: 'not an address', ACME_DIRECTORY_URL: 'nowhere' })).toThrow(/ACME_EMAIL: must be an e-mail address[\s\S]*ACME_DIRECTORY_URL/);
  });
  it('runs one SMTP process under npm start below 4 cores and two from 4 cores, unless SMTP_PROCESSES says otherwise', () => {
    expect([1, 2, 3, 4, 16].map(defaultSmtpProcesses)).toEqual([1, 1, 1, 2, 2]);
    expect(loadConfig(schemas.stack('local'), {}).SMTP_PROCESSES).toBe(defaultSmtpProcesses(os.availableParallelism()));
    expect(loadConfig(schemas.stack('local'), { SMTP_PROCESSES: '3' }).SMTP_PROCESSES).toBe(3);
  });
  it('gives the workers, SMTP and IMAP a probe and metrics port only when WORKER_HEALTH_PORT is set', () => {
    expect(loadConfig(schemas.inbound('service'), {}).WORKER_HEALTH_PORT).toBeUndefined();
    expect(loadConfig(schemas.inbound('service'), { WORKER_HEALTH_PORT: '8081' }).WORKER_HEALTH_PORT).toBe(8081);
    expect(loadConfig(schemas.outbound('service'), { WORKER_HEALTH_PORT: '8081' }).WORKER_HEALTH_PORT).toBe(8081);
    expect(loadConfig(schemas.smtp('service'), { WORKER_HEALTH_PORT: '8081' }).WORKER_HEALTH_PORT).toBe(8081);
    expect(loadConfig(schemas.imap('service'), { WORKER_HEALTH_PORT: '8081' }).WORKER_HEALTH_PORT).toBe(8081);
    expect(loadConfig(schemas.imap('service'), {}).WORKER_HEALTH_PORT).toBeUndefined();
  });
  it('trusts loopback by default, takes CIDRs or none for SMTP_TRUSTED_NETWORKS, and names a bad entry', () => {
    const byDefault = loadConfig(schemas.smtp('service'), {}).SMTP_TRUSTED_NETWORKS;
    expect([byDefault.contains('127.0.0.1'), byDefault.contains('::1'), byDefault.contains('::ffff:127.0.0.2'), byDefault.contains('192.0.2.1')]).toEqual([true, true, true, false]);
    const custom = loadConfig(schemas.smtp('service'), { SMTP_TRUSTED_NETWORKS: '10.0.0.0/8, 2001:db8::/32' }).SMTP_TRUSTED_NETWORKS;
    expect([custom.contains('10.1.2.3'), custom.contains('2001:db8::5'), custom.contains('127.0.0.1')]).toEqual([true, true, false]);
    expect(loadConfig(schemas.smtp('service'), { SMTP_TRUSTED_NETWORKS: 'none' }).SMTP_TRUSTED_NETWORKS.contains('127.0.0.1')).toBe(false);
    expect(() => loadConfig(schemas.smtp('service'), { SMTP_TRUSTED_NETWORKS: '10.0.0.0/33' })).toThrow(/SMTP_TRUSTED_NETWORKS: not a CIDR: "10.0.0.0\/33"/);
  });
  it('files in Junk at a spam score of 6 and refuses at 15 by default, and takes other positive thresholds', () => {
    expect(loadConfig(schemas.smtp('service'), {})).toMatchObject({ SPAM_JUNK_THRESHOLD: 6, SPAM_REJECT_THRESHOLD: 15 });
    expect(loadConfig(schemas.smtp('service'), { SPAM_JUNK_THRESHOLD: '4.5', SPAM_REJECT_THRESHOLD: '20' })).toMatchObject({ SPAM_JUNK_THRESHOLD: 4.5, SPAM_REJECT_THRESHOLD: 20 });
    expect(() => loadConfig(schemas.smtp('service'), { SPAM_JUNK_THRESHOLD: '-1' })).toThrow(/SPAM_JUNK_THRESHOLD/);
  });
  it('greylists after 300 s by default, takes DNSBL zones and clamd settings, and names bad values', () => {
    const byDefault = loadConfig(schemas.smtp('service'), {});
    expect(byDefault).toMatchObject({ SMTP_GREYLIST: 'on', SMTP_GREYLIST_DELAY: 300, DNSBL_ZONES: [], DNSBL_SCORE: 3, CLAMD_FAIL: 'tempfail' });
    expect(byDefault.CLAMD_SOCKET ?? byDefault.CLAMD_HOST).toBeUndefined();
    const custom = loadConfig(schemas.smtp('service'), { SMTP_GREYLIST: 'off', SMTP_GREYLIST_DELAY: '0', DNSBL_ZONES: 'zen.spamhaus.org, BL.Example.', CLAMD_HOST: 'clamav:3310', CLAMD_FAIL: 'accept' });
    expect(custom).toMatchObject({ SMTP_GREYLIST: 'off', SMTP_GREYLIST_DELAY: 0, DNSBL_ZONES: ['zen.spamhaus.org', 'bl.example'], CLAMD_HOST: 'clamav:3310', CLAMD_FAIL: 'accept' });
    expect(() => loadConfig(schemas.smtp('service'), { SMTP_GREYLIST: 'maybe', CLAMD_HOST: 'clamav', CLAMD_FAIL: 'ignore' })).toThrow(/SMTP_GREYLIST[^]*CLAMD_HOST: must be host:port[^]*CLAMD_FAIL/);
  });

  it('has no rspamd by default; every service reads RSPAMD_* (the MX scores, the API and IMAP queue learns, the worker runs them)', () => {
    for (const schema of [schemas.smtp, schemas.inbound, schemas.http, schemas.imap]) {
      const config = loadConfig(schema('service'), {});
      expect([config.RSPAMD_URL, config.RSPAMD_CONTROLLER_URL, config.RSPAMD_PASSWORD, config.RSPAMD_TIMEOUT]).toEqual([undefined, undefined, undefined, 5000]);
    }
    const set = loadConfig(schemas.inbound('service'), { RSPAMD_URL: 'http://rspamd:11333', RSPAMD_CONTROLLER_URL: 'http://rspamd:11334', RSPAMD_PASSWORD: 'q1', RSPAMD_TIMEOUT: '2s' });
    expect(set).toMatchObject({ RSPAMD_URL: 'http://rspamd:11333', RSPAMD_CONTROLLER_URL: 'http://rspamd:11334', RSPAMD_PASSWORD: 'q1', RSPAMD_TIMEOUT: 2000 });
    expect(() => loadConfig(schemas.smtp('service'), { RSPAMD_URL: 'rspamd:11333' })).toThrow(/RSPAMD_URL: must be an http:\/\/ or https:\/\/ URL/);
  });

  it('serves HTTPS on 8443, trusts no proxy by default, takes proxy CIDRs for TRUST_PROXY and names a bad entry', () => {
    expect(loadConfig(schemas.http('local'), {})).toMatchObject({ HTTPS_PORT: 8443, TRUST_PROXY: [], MTA_STS_MODE: 'testing', MTA_STS_MAX_AGE: 7 * 86_400_000, TLS_RELOAD_INTERVAL: 30_000 });
    expect(loadConfig(schemas.http('service'), { TRUST_PROXY: '10.0.0.0/8, ::1' }).TRUST_PROXY).toEqual(['10.0.0.0/8', '::1/128']);
    expect(() => loadConfig(schemas.http('service'), { TRUST_PROXY: 'proxy.local', MTA_STS_MODE: 'strict' })).toThrow(/TRUST_PROXY: not a CIDR: "proxy.local"[\s\S]*MTA_STS_MODE/);
  });
  it('lists every bad key at once', () => {
    try {
      loadConfig(schemas.stack('local'), { SMTP_PORT: 'abc', HTTP_PORT: '70000', LOG_LEVEL: 'loud', SMTP_MAX_RECIPIENTS: '0' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const key of ['SMTP_PORT', 'HTTP_PORT', 'LOG_LEVEL', 'SMTP_MAX_RECIPIENTS']) expect(problems).toContain(key);
    }
  });
  it('requires DATABASE_URL and REDIS_URL for a service run on its own, naming both', () => {
    const config = loadConfig(schemas.base('service'), {});
    expect(() => requireServiceEndpoints(config)).toThrow(/DATABASE_URL[\s\S]*REDIS_URL/);
    expect(requireServiceEndpoints(loadConfig(schemas.base('service'), { DATABASE_URL: 'postgres://x', REDIS_URL: 'redis://y' }))).toEqual({ databaseUrl: 'postgres://x', redisUrl: 'redis://y' });
  });
  it('names the configured Redis the same way for npm start and the CLI as for the services (none when unset)', () => {
    const base = (env: Record<string, string>) => loadConfig(schemas.base('local'), env);
    expect(configuredRedisTarget(base({}))).toBeUndefined();
    expect(configuredRedisTarget(base({ REDIS_URL: 'redis://y' }))).toBe('redis://y');
    const sentinels = base({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_PASSWORD: 'pw' });
    expect(configuredRedisTarget(sentinels)).toBe(requireServiceEndpoints({ ...sentinels, DATABASE_URL: 'postgres://x' }).redisUrl);
    expect(redisTargetOptions(configuredRedisTarget(sentinels)!)).toMatchObject({ name: 'mailyard', password: 'pw', sentinels: [{ host: '127.0.0.1', port: 26379 }] });
    expect(() => configuredRedisTarget(base({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_URL: 'redis://y' }))).toThrow(/set either REDIS_URL or REDIS_SENTINELS/);
  });

  it('reaches Redis through REDIS_SENTINELS (master REDIS_SENTINEL_NAME, REDIS_PASSWORD) instead of REDIS_URL, never both', () => {
    const env = { DATABASE_URL: 'postgres://x', REDIS_SENTINELS: 'redis-0.redis:26379, redis-1.redis:26379,[fd00::1]:26380', REDIS_PASSWORD: 'p@ss/word' };
    const config = loadConfig(schemas.inbound('service'), env);
    expect(config).toMatchObject({ REDIS_SENTINELS: ['redis-0.redis:26379', 'redis-1.redis:26379', '[fd00::1]:26380'], REDIS_SENTINEL_NAME: 'mailyard', REDIS_PASSWORD: 'p@ss/word' });
    expect(redisTargetOptions(requireServiceEndpoints(config).redisUrl)).toEqual({
      name: 'mailyard',
      sentinels: [{ host: 'redis-0.redis', port: 26379 }, { host: 'redis-1.redis', port: 26379 }, { host: 'fd00::1', port: 26380 }],
      password: 'p@ss/word',
      sentinelPassword: 'p@ss/word',
    });
    const named = loadConfig(schemas.smtp('service'), { ...env, REDIS_PASSWORD: '', REDIS_SENTINEL_NAME: 'mymaster' });
    expect(redisTargetOptions(requireServiceEndpoints(named).redisUrl)).toMatchObject({ name: 'mymaster' });
    expect(redisTargetOptions(requireServiceEndpoints(named).redisUrl)).not.toHaveProperty('password');
    expect(loadConfig(schemas.base('service'), {}).REDIS_SENTINELS).toEqual([]);
    expect(() => loadConfig(schemas.base('service'), { REDIS_SENTINELS: 'redis-0:26379,redis-1', REDIS_SENTINEL_NAME: 'my master' })).toThrow(/REDIS_SENTINELS: not host:port: "redis-1"[\s\S]*REDIS_SENTINEL_NAME/);
    expect(() => requireServiceEndpoints(loadConfig(schemas.base('service'), { ...env, REDIS_URL: 'redis://y' }))).toThrow(/REDIS_URL: set either REDIS_URL or REDIS_SENTINELS/);
    expect(() => requireServiceEndpoints(loadConfig(schemas.base('service'), { DATABASE_URL: 'postgres://x', REDIS_URL: 'redis://y', REDIS_PASSWORD: 'z' }))).toThrow(/REDIS_PASSWORD: only read with REDIS_SENTINELS/);
  });

  it('reads durations (250ms, 30s, 5m, 4h, 5d; a bare number is ms) and rejects anything else', () => {
    expect(['250ms', '30s', '5m', '4h', '5d', '1.5h', '1200'].map(parseDuration)).toEqual([250, 30_000, 300_000, 14_400_000, 432_000_000, 5_400_000, 1200]);
    for (const bad of ['', 'soon', '5 days', '-1s', '5w']) expect(parseDuration(bad), bad).toBeNaN();
  });

  it('has the outbound defaults, takes a retry schedule and "off" for the delay warning, and names bad values', () => {
    const defaults = loadConfig(schemas.outbound('service'), {});
    expect(defaults).toMatchObject({ OUTBOUND_EXPIRE_AFTER: 5 * 86_400_000, OUTBOUND_DELAY_WARNING: 4 * 3_600_000, OUTBOUND_SMTP_PORT: 25, OUTBOUND_MAX_CONNECTIONS_PER_HOST: 20 });
    expect(defaults.OUTBOUND_RETRY_SCHEDULE[0]).toBe(300_000);
    const custom = loadConfig(schemas.outbound('service'), { OUTBOUND_RETRY_SCHEDULE: '300ms, 2s', OUTBOUND_DELAY_WARNING: 'off', OUTBOUND_EXPIRE_AFTER: '3s' });
    expect(custom).toMatchObject({ OUTBOUND_RETRY_SCHEDULE: [300, 2000], OUTBOUND_DELAY_WARNING: null, OUTBOUND_EXPIRE_AFTER: 3000 });
    try {
      loadConfig(schemas.outbound('service'), { OUTBOUND_RETRY_SCHEDULE: '5m,later', OUTBOUND_EXPIRE_AFTER: 'never', OUTBOUND_DELAY_WARNING: 'x' });
      expect.unreachable();
    } catch (err) {
      const problems = (err as ConfigError).problems.join('\n');
      for (const key of ['OUTBOUND_RETRY_SCHEDULE', 'OUTBOUND_EXPIRE_AFTER', 'OUTBOUND_DELAY_WARNING']) expect(problems).toContain(key);
    }
  });
});
