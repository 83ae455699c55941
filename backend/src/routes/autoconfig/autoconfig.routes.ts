import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError, createDomainRepository, createUserRepository, parseAddress } from '@mailyard/core';
import { autoconfigQuery, errorResponses, nonJsonResponse } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/**
 * Mail client autoconfiguration, so a client needs only an address and a password: IMAP (STARTTLS
 * and implicit TLS) and SMTP submission (STARTTLS and implicit TLS) on MAIL_HOSTNAME, the full
 * address as user name. Only for domains served here (404 `domain.not_found` otherwise); whether
 * the address itself exists is not revealed. No session: clients ask before they have one.
 *   GET  /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=   Thunderbird
 *   GET  /mail/config-v1.1.xml?emailaddress=                          Thunderbird (autoconfig.<domain>)
 *   POST /autodiscover/autodiscover.xml   (XML request with <EMailAddress>)   Outlook
 *   GET  /autodiscover/autodiscover.xml?emailaddress=
 *   GET  /api/account/mobileconfig        (signed in)                          Apple Mail (iOS, macOS)
 */

/** The public ports of the IMAP and submission services (IMAP_PORT, IMAPS_PORT, SUBMISSION_PORT, SMTPS_PORT). */
export interface ClientPorts {
  imap: number;
  imaps: number;
  submission: number;
  smtps: number;
}

interface Settings {
  address: string;
  domain: string;
  host: string;
  ports: ClientPorts;
}

const XML_TYPE = 'text/xml; charset=utf-8';
const AUTODISCOVER_REQUEST_LIMIT = 64 * 1024;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const escapeXml = (value: string | number) => String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
const unescapeXml = (value: string) =>
  value.replace(/&(amp|lt|gt|quot|apos);/g, (entity) => Object.entries(ENTITIES).find(([, e]) => e === entity)![0]);

/** Thunderbird's format (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat). */
function thunderbirdConfig(s: Settings): string {
  const server = (tag: string, type: string, port: number, socketType: string) =>
    [
      `    <${tag} type="${type}">`,
      `      <hostname>${escapeXml(s.host)}</hostname>`,
      `      <port>${port}</port>`,
      `      <socketType>${socketType}</socketType>`,
      `      <authentication>password-cleartext</authentication>`,
      `      <username>${escapeXml(s.address)}</username>`,
      `    </${tag}>`,
    ].join('\n');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<clientConfig version="1.1">',
    `  <emailProvider id="${escapeXml(s.domain)}">`,
    `    <domain>${escapeXml(s.domain)}</domain>`,
    `    <displayName>${escapeXml(s.domain)}</displayName>`,
    `    <displayShortName>${escapeXml(s.domain)}</displayShortName>`,
    server('incomingServer', 'imap', s.ports.imaps, 'SSL'),
    server('incomingServer', 'imap', s.ports.imap, 'STARTTLS'),
    server('outgoingServer', 'smtp', s.ports.smtps, 'SSL'),
    server('outgoingServer', 'smtp', s.ports.submission, 'STARTTLS'),
    '  </emailProvider>',
    '</clientConfig>',
    '',
  ].join('\n');
}

/** Outlook's POX autodiscover answer (the "outlook" response schema, AccountType email). */
function outlookConfig(s: Settings): string {
  const protocol = (type: string, port: number, encryption: 'SSL' | 'TLS') =>
    [
      '      <Protocol>',
      `        <Type>${type}</Type>`,
      `        <Server>${escapeXml(s.host)}</Server>`,
      `        <Port>${port}</Port>`,
      `        <LoginName>${escapeXml(s.address)}</LoginName>`,
      '        <DomainRequired>off</DomainRequired>',
      '        <SPA>off</SPA>',
      `        <SSL>${encryption === 'SSL' ? 'on' : 'off'}</SSL>`,
      `        <Encryption>${encryption}</Encryption>`,
      '        <AuthRequired>on</AuthRequired>',
      '      </Protocol>',
    ].join('\n');
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">',
    '  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">',
    '    <Account>',
    '      <AccountType>email</AccountType>',
    '      <Action>settings</Action>',
    protocol('IMAP', s.ports.imaps, 'SSL'),
    protocol('IMAP', s.ports.imap, 'TLS'),
    protocol('SMTP', s.ports.smtps, 'SSL'),
    protocol('SMTP', s.ports.submission, 'TLS'),
    '    </Account>',
    '  </Response>',
    '</Autodiscover>',
    '',
  ].join('\n');
}

/** A stable UUID (version 5 layout) from a name: the same user gets the same profile, so installing it again replaces it. */
function nameUuid(name: string): string {
  const b = createHash('sha256').update(`mailyard:${name}`).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Apple's configuration profile with one mail account (payload com.apple.mail.managed): IMAP and
 * submission over implicit TLS on MAIL_HOSTNAME, the full address as user name. It carries no
 * password (the device asks for it) and is not signed, so the device labels it "Unverified".
 */
function appleProfile(s: Settings & { displayName: string | null }): string {
  const entry = (indent: string) => (k: string, value: string | number | boolean) =>
    `${indent}<key>${k}</key>${typeof value === 'boolean' ? `<${value}/>` : typeof value === 'number' ? `<integer>${value}</integer>` : `<string>${escapeXml(value)}</string>`}`;
  const key = entry('      ');
  const top = entry('  ');
  const reverseHost = s.host.split('.').reverse().join('.');
  const account = nameUuid(`account:${s.host}:${s.address}`);
  const profile = nameUuid(`profile:${s.host}:${s.address}`);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    '  <key>PayloadContent</key>',
    '  <array>',
    '    <dict>',
    key('EmailAccountDescription', s.address),
    ...(s.displayName ? [key('EmailAccountName', s.displayName)] : []),
    key('EmailAccountType', 'EmailTypeIMAP'),
    key('EmailAddress', s.address),
    key('IncomingMailServerAuthentication', 'EmailAuthPassword'),
    key('IncomingMailServerHostName', s.host),
    key('IncomingMailServerPortNumber', s.ports.imaps),
    key('IncomingMailServerUseSSL', true),
    key('IncomingMailServerUsername', s.address),
    key('OutgoingMailServerAuthentication', 'EmailAuthPassword'),
    key('OutgoingMailServerHostName', s.host),
    key('OutgoingMailServerPortNumber', s.ports.smtps),
    key('OutgoingMailServerUseSSL', true),
    key('OutgoingMailServerUsername', s.address),
    key('OutgoingPasswordSameAsIncomingPassword', true),
    key('PayloadDescription', `Mail account ${s.address}`),
    key('PayloadDisplayName', s.address),
    key('PayloadIdentifier', `${reverseHost}.mailyard.mail.${account}`),
    key('PayloadType', 'com.apple.mail.managed'),
    key('PayloadUUID', account),
    key('PayloadVersion', 1),
    '    </dict>',
    '  </array>',
    top('PayloadDescription', `Sets up ${s.address} in Mail: incoming over IMAP, outgoing over SMTP, both encrypted.`),
    top('PayloadDisplayName', `Mail: ${s.address}`),
    top('PayloadIdentifier', `${reverseHost}.mailyard.${profile}`),
    top('PayloadOrganization', s.domain),
    top('PayloadRemovalDisallowed', false),
    top('PayloadType', 'Configuration'),
    top('PayloadUUID', profile),
    top('PayloadVersion', 1),
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

export function autoconfigRoutes(ctx: Pick<BackendContext, 'db' | 'mailHostname'>, ports: ClientPorts): FastifyPluginAsyncZod {
  const domains = createDomainRepository(ctx.db);
  const users = createUserRepository(ctx.db);

  /** The settings for `input`, or a coded error when it is no address of a domain served here. */
  async function settingsFor(input: string): Promise<Settings> {
    const parsed = parseAddress(input);
    if (!parsed) throw new AppError('address.invalid', `"${input}" is not a valid mail address`, 400);
    if (!(await domains.findByName(parsed.domain))) throw new AppError('domain.not_found', `${parsed.domain} is not served here`, 404);
    return { address: parsed.address, domain: parsed.domain, host: ctx.mailHostname, ports };
  }

  return async (app) => {
    // Outlook posts an XML document; this plugin alone reads XML bodies, as text.
    app.addContentTypeParser(['text/xml', 'application/xml'], { parseAs: 'string', bodyLimit: AUTODISCOVER_REQUEST_LIMIT }, (_req, body, done) => done(null, body));

    const thunderbird = {
      schema: {
        tags: ['autoconfig'],
        querystring: autoconfigQuery,
        response: { 200: nonJsonResponse('text/xml', 'Thunderbird autoconfig (clientConfig 1.1)'), ...errorResponses(400, 404) },
      },
    };
    for (const url of ['/.well-known/autoconfig/mail/config-v1.1.xml', '/mail/config-v1.1.xml']) {
      app.get(url, thunderbird, async (req, reply) => reply.type(XML_TYPE).send(thunderbirdConfig(await settingsFor(req.query.emailaddress))));
    }

    const outlookAnswer = nonJsonResponse('text/xml', 'Outlook autodiscover (POX, AccountType email)');
    app.get(
      '/autodiscover/autodiscover.xml',
      { schema: { tags: ['autoconfig'], querystring: autoconfigQuery, response: { 200: outlookAnswer, ...errorResponses(400, 404) } } },
      async (req, reply) => reply.type(XML_TYPE).send(outlookConfig(await settingsFor(req.query.emailaddress))),
    );
    app.post(
      '/autodiscover/autodiscover.xml',
      {
        schema: {
          tags: ['autoconfig'],
          description: 'Takes the autodiscover request document (text/xml) and answers for its <EMailAddress>.',
          response: { 200: outlookAnswer, ...errorResponses(400, 404) },
        },
      },
      async (req, reply) => {
        const match = typeof req.body === 'string' ? /<EMailAddress>\s*([^<]*?)\s*<\/EMailAddress>/i.exec(req.body) : null;
        if (!match) throw new AppError('request.invalid', 'expected an autodiscover request with an <EMailAddress>', 400);
        return reply.type(XML_TYPE).send(outlookConfig(await settingsFor(unescapeXml(match[1]!))));
      },
    );

    app.get(
      '/api/account/mobileconfig',
      {
        schema: {
          tags: ['autoconfig'],
          description: "The signed-in user's mail account as an Apple configuration profile (iPhone, iPad, Mac): no password inside, unsigned.",
          response: { 200: nonJsonResponse('application/x-apple-aspen-config', 'Apple configuration profile (plist XML)'), ...errorResponses(401) },
        },
        onRequest: requireUser,
      },
      async (req, reply) => {
        const me = currentUser(req);
        const [settings, profile] = await Promise.all([settingsFor(me.address), users.profile(me.userId)]);
        const fileName = `${me.address.replace(/[^A-Za-z0-9._@-]/g, '_')}.mobileconfig`;
        return reply
          .type('application/x-apple-aspen-config')
          .header('content-disposition', `attachment; filename="${fileName}"`)
          .header('cache-control', 'no-store')
          .send(appleProfile({ ...settings, displayName: profile.displayName }));
      },
    );
  };
}
