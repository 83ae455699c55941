import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import {
  AppError,
  activeDkimPublicKey,
  canManageDomain,
  checkRecords,
  createDnsResolver,
  createAccountsService,
  createAuditRepository,
  createDomainAdminRepository,
  createDomainRepository,
  createUserRepository,
  dkimTxtRecord,
  domainsVisibleTo,
  expectedRecords,
  listUsersVisibleTo,
  normalizeDomain,
  requireAddress,
  requireAdminArea,
  requireAliasAddress,
  requireFullAdmin,
  requireManagedUser,
  rotateDkimKey,
  toAdminAuditEntryDto,
  toAdminDomainDto,
  toAdminUserDto,
  type AdminActor,
  type DomainRow,
} from '@mailyard/core';
import {
  adminAliasBody,
  adminAliasListResponse,
  adminAliasParam,
  adminAliasSchema,
  adminAuditListResponse,
  adminAuditQuery,
  adminDkimRotateResponse,
  adminDnsResponse,
  adminDomainAdminBody,
  adminDomainBody,
  adminDomainListResponse,
  adminDomainParam,
  adminDomainPatchBody,
  adminDomainPatchResponse,
  adminDomainSchema,
  adminUserCreateBody,
  adminUserListResponse,
  adminUserPatchBody,
  adminUserSchema,
  adminUsersQuery,
  errorResponses,
  idParam,
  okResponse,
} from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

const errors = errorResponses(400, 401, 403, 404, 409);

/**
 * The admin API. Who may do what is decided in core/src/accounts/admin-scope.ts; the changes
 * themselves go through the accounts service (the same rules as the CLI). Every write is audited.
 * The audit log is readable by server admins, and by domain-admins for their own domains.
 */
export function adminRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const accounts = createAccountsService({ db: ctx.db, secrets: ctx.secrets });
  const audit = createAuditRepository(ctx.db);
  const domains = createDomainRepository(ctx.db);

  function actorOf(req: FastifyRequest): AdminActor {
    const me = currentUser(req);
    return { userId: me.userId, address: me.address, role: me.role };
  }

  async function record(req: FastifyRequest, actor: AdminActor, action: string, target: string, details: Record<string, unknown> = {}): Promise<void> {
    await audit.record({ actorUserId: actor.userId, actorAddress: actor.address, action, target, ip: req.ip, details });
  }

  /** Outside the actor's domains, a domain looks absent. */
  async function requireManagedDomain(actor: AdminActor, name: string): Promise<void> {
    if (!(await canManageDomain(ctx.db, actor, name))) throw new AppError('domain.not_found', `domain ${normalizeDomain(name)} is not served here`, 404);
  }

  async function requireDomainRow(name: string): Promise<DomainRow> {
    const domain = await domains.findByName(normalizeDomain(name));
    if (!domain) throw new AppError('domain.not_found', `domain ${normalizeDomain(name)} is not served here`, 404);
    return domain;
  }

  return async (app) => {
    // Before validation: a plain user gets 403 whatever they send.
    app.addHook('preValidation', requireUser);
    app.addHook('preValidation', async (req) => requireAdminArea(actorOf(req)));

    // --- Domains: everyone with admin rights sees their domains; only admins add or remove. ---

    app.get('/api/admin/domains', { schema: { tags: ['admin'], response: { 200: adminDomainListResponse, ...errors } } }, async (req) => {
      return { domains: (await domainsVisibleTo(ctx.db, actorOf(req))).map(toAdminDomainDto) };
    });

    app.post('/api/admin/domains', { schema: { tags: ['admin'], body: adminDomainBody, response: { 201: adminDomainSchema, ...errors } } }, async (req, reply) => {
      const actor = actorOf(req);
      requireFullAdmin(actor);
      const domain = await accounts.addDomain(req.body.name);
      await record(req, actor, 'admin.domain.create', domain.name);
      return reply.code(201).send(toAdminDomainDto(domain));
    });

    app.patch('/api/admin/domains/:name', { schema: { tags: ['admin'], params: adminDomainParam, body: adminDomainPatchBody, response: { 200: adminDomainPatchResponse, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      requireFullAdmin(actor);
      const domain = await requireDomainRow(req.params.name);
      const trustPolicy = await domains.updateTrustPolicy(domain.id, req.body);
      if (!trustPolicy) throw new AppError('domain.not_found', `domain ${domain.name} is not served here`, 404);
      await record(req, actor, 'admin.domain.trust_policy', domain.name, req.body);
      return { ...toAdminDomainDto(domain), trustPolicy };
    });

    app.delete('/api/admin/domains/:name', { schema: { tags: ['admin'], params: adminDomainParam, response: { 200: okResponse, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      requireFullAdmin(actor);
      await accounts.removeDomain(req.params.name);
      await record(req, actor, 'admin.domain.delete', normalizeDomain(req.params.name));
      return { ok: true as const };
    });

    // --- Users ---

    app.get('/api/admin/users', { schema: { tags: ['admin'], querystring: adminUsersQuery, response: { 200: adminUserListResponse, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      if (req.query.domain !== undefined) {
        await requireManagedDomain(actor, req.query.domain);
        await requireDomainRow(req.query.domain);
      }
      return { users: (await listUsersVisibleTo(ctx.db, actor, { domainName: req.query.domain })).map(toAdminUserDto) };
    });

    app.post('/api/admin/users', { schema: { tags: ['admin'], body: adminUserCreateBody, response: { 201: adminUserSchema, ...errors } } }, async (req, reply) => {
      const actor = actorOf(req);
      const parsed = requireAddress(req.body.address);
      if (req.body.role === 'admin') requireFullAdmin(actor);
      await requireManagedDomain(actor, parsed.domain);
      const created = await accounts.addUser({ address: parsed.address, password: req.body.password, role: req.body.role });
      await record(req, actor, 'admin.user.create', created.address, { userId: created.id, role: created.role });
      const [view] = await listUsersVisibleTo(ctx.db, actor, { userId: created.id });
      return reply.code(201).send(toAdminUserDto(view!));
    });

    app.patch('/api/admin/users/:id', { schema: { tags: ['admin'], params: idParam, body: adminUserPatchBody, response: { 200: adminUserSchema, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      const { role, disabled, quotaBytes, password } = req.body;
      if (role === 'admin') requireFullAdmin(actor);
      const user = await requireManagedUser(ctx.db, actor, req.params.id);
      if (user.id === actor.userId && ((role !== undefined && role !== user.role) || disabled === true)) {
        throw new AppError('admin.self', 'you cannot change your own role or disable yourself', 409);
      }
      const revokedAppPasswords = password !== undefined ? await accounts.setPassword(user.address, password) : 0;
      await createUserRepository(ctx.db).updateSettings(user.id, { role, disabled, quotaBytes });
      const revokedSessions = disabled === true || password !== undefined ? await ctx.sessions.revokeAllForUser(user.id) : 0;
      const changed = { role, disabled, quotaBytes, passwordReset: password !== undefined };
      await record(req, actor, 'admin.user.update', user.address, { userId: user.id, ...changed, revokedSessions, revokedAppPasswords });
      const [view] = await listUsersVisibleTo(ctx.db, actor, { userId: user.id });
      return toAdminUserDto(view!);
    });

    app.delete('/api/admin/users/:id', { schema: { tags: ['admin'], params: idParam, response: { 200: okResponse, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      const user = await requireManagedUser(ctx.db, actor, req.params.id);
      if (user.id === actor.userId) throw new AppError('admin.self', 'you cannot remove yourself', 409);
      await ctx.sessions.revokeAllForUser(user.id);
      await accounts.removeUser(user.address);
      await record(req, actor, 'admin.user.delete', user.address, { userId: user.id });
      return { ok: true as const };
    });

    // --- Aliases: the alias and its target must both be in the actor's domains. ---

    app.get('/api/admin/aliases', { schema: { tags: ['admin'], response: { 200: adminAliasListResponse, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      const all = await accounts.listAliases();
      if (actor.role === 'admin') return { aliases: all };
      const visible = new Set((await domainsVisibleTo(ctx.db, actor)).map((d) => d.name));
      return { aliases: all.filter((a) => visible.has(requireAliasAddress(a.address).domain)) };
    });

    app.post('/api/admin/aliases', { schema: { tags: ['admin'], body: adminAliasBody, response: { 201: adminAliasSchema, ...errors } } }, async (req, reply) => {
      const actor = actorOf(req);
      const alias = requireAliasAddress(req.body.address); // local@domain, or @domain: the catch-all
      const target = requireAddress(req.body.target);
      const { allowSend } = req.body;
      await requireManagedDomain(actor, alias.domain);
      if (!(await canManageDomain(ctx.db, actor, target.domain))) throw new AppError('user.not_found', `no user ${target.address}`, 404);
      // Sending as an address is a server admin's grant: a domain-admin's alias only receives.
      if (allowSend) requireFullAdmin(actor);
      await accounts.addAlias(alias.address, target.address, { allowSend });
      await record(req, actor, 'admin.alias.create', alias.address, { target: target.address, allowSend });
      const created = (await accounts.listAliases()).find((a) => a.address === alias.address)!;
      return reply.code(201).send(created);
    });

    app.delete('/api/admin/aliases/:address', { schema: { tags: ['admin'], params: adminAliasParam, response: { 200: okResponse, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      const alias = requireAliasAddress(req.params.address);
      if (!(await canManageDomain(ctx.db, actor, alias.domain))) throw new AppError('alias.not_found', `no alias ${alias.address}`, 404);
      await accounts.removeAlias(alias.address);
      await record(req, actor, 'admin.alias.delete', alias.address);
      return { ok: true as const };
    });

    // --- Domain-admin grants (admins only) ---

    async function grantTarget(actor: AdminActor, userId: number, domainName: string) {
      const [user] = await listUsersVisibleTo(ctx.db, actor, { userId });
      if (!user) throw new AppError('user.not_found', `no user with id ${userId}`, 404);
      return { user, domain: await requireDomainRow(domainName) };
    }

    app.post('/api/admin/domain-admins', { schema: { tags: ['admin'], body: adminDomainAdminBody, response: { 201: okResponse, ...errors } } }, async (req, reply) => {
      const actor = actorOf(req);
      requireFullAdmin(actor);
      const { user, domain } = await grantTarget(actor, req.body.userId, req.body.domain);
      if (!(await createDomainAdminRepository(ctx.db).grant(user.id, domain.id))) throw new AppError('domain_admin.exists', `${user.address} already manages ${domain.name}`, 409);
      await record(req, actor, 'admin.domain_admin.grant', domain.name, { userId: user.id, address: user.address });
      return reply.code(201).send({ ok: true as const });
    });

    app.delete('/api/admin/domain-admins', { schema: { tags: ['admin'], body: adminDomainAdminBody, response: { 200: okResponse, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      requireFullAdmin(actor);
      const { user, domain } = await grantTarget(actor, req.body.userId, req.body.domain);
      if (!(await createDomainAdminRepository(ctx.db).revoke(user.id, domain.id))) throw new AppError('domain_admin.not_found', `${user.address} does not manage ${domain.name}`, 404);
      await record(req, actor, 'admin.domain_admin.revoke', domain.name, { userId: user.id, address: user.address });
      return { ok: true as const };
    });

    // --- DKIM and DNS: admins, or the domain's domain-admins. Never any private key material. ---

    app.post('/api/admin/domains/:name/dkim/rotate', { schema: { tags: ['admin'], params: adminDomainParam, response: { 200: adminDkimRotateResponse, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      await requireManagedDomain(actor, req.params.name);
      const domain = await requireDomainRow(req.params.name);
      const key = await rotateDkimKey({ db: ctx.db, secrets: ctx.secrets }, domain.name);
      await record(req, actor, 'admin.domain.dkim_rotate', domain.name, { selector: key.selector });
      return { selector: key.selector, dnsRecord: { type: 'TXT' as const, name: `${key.selector}._domainkey.${domain.name}`, value: dkimTxtRecord(key.publicKeyB64), purpose: 'dkim' as const } };
    });

    app.get('/api/admin/domains/:name/dns', { schema: { tags: ['admin'], params: adminDomainParam, response: { 200: adminDnsResponse, ...errors } } }, async (req) => {
      await requireManagedDomain(actorOf(req), req.params.name);
      const domain = await requireDomainRow(req.params.name);
      const dkim = await activeDkimPublicKey(ctx.db, domain.name);
      const expected = expectedRecords(domain.name, { mailHostname: ctx.mailHostname, dkim, stsDate: domain.createdAt });
      return { records: await checkRecords(expected, createDnsResolver(ctx.dnsServers)) };
    });

    // --- Audit log: admins read all of it, domain-admins what concerns their domains. ---

    app.get('/api/admin/audit', { schema: { tags: ['admin'], querystring: adminAuditQuery, response: { 200: adminAuditListResponse, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      requireAdminArea(actor);
      const domains = actor.role === 'admin' ? undefined : (await domainsVisibleTo(ctx.db, actor)).map((d) => d.name);
      const { limit, before, action, actor: actorAddress, since, until } = req.query;
      const rows = await audit.list({ limit, beforeId: before, domains, action, actor: actorAddress, since: since ? new Date(since) : undefined, until: until ? new Date(until) : undefined });
      const entries = rows.map(toAdminAuditEntryDto);
      return { entries, nextBefore: rows.length === limit ? rows[rows.length - 1]!.id : null };
    });
  };
}
