import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, requireServiceEndpoints, schemas } from './load-config.js';

describe('loadConfig', () => {
  it('uses the npm start ports in local mode and the standard ones in a container', () => {
    expect(loadConfig(schemas.stack('local'), {})).toMatchObject({ SMTP_PORT: 2525, SUBMISSION_PORT: 2587, SMTPS_PORT: 2465, IMAP_PORT: 2143, IMAPS_PORT: 2993, HTTP_PORT: 8080, BIND_ADDRESS: '127.0.0.1' });
    expect(loadConfig(schemas.smtp('service'), {})).toMatchObject({ SMTP_PORT: 25, BIND_ADDRESS: '0.0.0.0' });
    expect(loadConfig(schemas.smtp('local'), { SMTP_PORT: '3025' }).SMTP_PORT).toBe(3025);
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
});
