import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, schemas } from '@mailyard/core';
import { serviceSpecs, smtpProcessEnv } from './service-processes.js';

const config = (env: Record<string, string> = {}) => loadConfig(schemas.stack('local'), { DATA_DIR: '/srv/mailyard', ...env });

describe('SMTP processes under npm start', () => {
  it('gives one process the settings unchanged', () => {
    expect(smtpProcessEnv(config(), 1, 1)).toEqual({});
  });

  it('divides the in-memory limits among the processes, rounded up, so that together they stay within the setting plus count - 1', () => {
    const env = smtpProcessEnv(
      config({ SMTP_MAX_CONNECTIONS_PER_IP: '5', SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE: '6000', SMTP_MAX_CLIENTS: '500', SMTP_MAX_DATA_PER_IP: '1' }),
      2,
      1,
    );
    expect(env).toMatchObject({ SMTP_MAX_CONNECTIONS_PER_IP: '3', SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE: '3000', SMTP_MAX_CLIENTS: '250', SMTP_MAX_DATA_PER_IP: '1' });
    // The child reads them with the same schema: every one is a valid setting.
    expect(() => loadConfig(schemas.smtp('local'), env)).not.toThrow();
  });

  it('gives each process its own DATA spill folder (each empties its folder when it starts)', () => {
    const first = smtpProcessEnv(config(), 3, 1).SMTP_SPILL_DIR;
    const third = smtpProcessEnv(config(), 3, 3).SMTP_SPILL_DIR;
    expect(first).toBe(path.join('/srv/mailyard', 'spool-temp', '1'));
    expect(third).toBe(path.join('/srv/mailyard', 'spool-temp', '3'));
    expect(smtpProcessEnv(config({ SMTP_SPILL_DIR: '/var/tmp/spill' }), 2, 2).SMTP_SPILL_DIR).toBe('/var/tmp/spill/2');
  });
});

describe('probe ports under npm start', () => {
  const endpoints = { DATABASE_URL: 'postgres://x' };
  const healthPorts = (env: Record<string, string>) =>
    Object.fromEntries(serviceSpecs(config(env), endpoints).map((spec) => [spec.name, spec.env.WORKER_HEALTH_PORT]));

  it('gives each process of a service without the HTTP API its own WORKER_HEALTH_PORT: the setting plus its place in the list, SMTP last', () => {
    expect(healthPorts({ WORKER_HEALTH_PORT: '9100', SMTP_PROCESSES: '2' })).toEqual({
      'inbound-worker': '9100',
      'outbound-worker': '9101',
      'imap-server': '9102',
      'smtp-server#1': '9103',
      'smtp-server#2': '9104',
      backend: undefined,
    });
  });

  it('leaves the IMAP server room for its IMAP_PROCESSES processes (each binds the next port)', () => {
    expect(healthPorts({ WORKER_HEALTH_PORT: '9100', SMTP_PROCESSES: '1', IMAP_PROCESSES: '3' })).toMatchObject({ 'imap-server': '9102', 'smtp-server': '9105' });
  });

  it('leaves 0 (any free port, each its own) as it is, and sets none without WORKER_HEALTH_PORT', () => {
    expect(Object.values(healthPorts({ WORKER_HEALTH_PORT: '0', SMTP_PROCESSES: '2' })).filter(Boolean)).toEqual(['0', '0', '0', '0', '0']);
    expect(Object.values(healthPorts({ SMTP_PROCESSES: '2' })).filter(Boolean)).toEqual([]);
  });

  it('refuses a WORKER_HEALTH_PORT whose range would pass 65535', () => {
    expect(() => serviceSpecs(config({ WORKER_HEALTH_PORT: '65533', SMTP_PROCESSES: '2' }), endpoints)).toThrow(/WORKER_HEALTH_PORT/);
  });
});
