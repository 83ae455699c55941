import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply } from 'fastify';
import {
  AppError,
  confirmAccountPassword,
  createAccountsService,
  createAppPasswordRepository,
  createAuditRepository,
  createTotpRepository,
  generateAppPassword,
  generateTotpSecret,
  hashPassword,
  isUniqueViolation,
  MAX_APP_PASSWORDS,
  passwordProblem,
  toAppPasswordDto,
  totpUri,
  type SessionUser,
} from '@mailyard/core';
import {
  appPasswordCreateBody,
  appPasswordCreatedResponse,
  appPasswordListResponse,
  changePasswordBody,
  errorResponses,
  idParam,
  noContent,
  totpCodeBody,
  totpDisableBody,
  totpSetupBody,
  totpSetupResponse,
  totpStatusResponse,
} from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';
import { createSecondFactor } from './second-factor.js';

const TOTP_ISSUER = 'Mailyard';

/**
 * Account security for the signed-in user: password change, the TOTP second factor and app
 * passwords for IMAP/SMTP clients. Every route needs a complete session (and CSRF for writes);
 * every change lands in the audit log.
 */
export function accountRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const audit = createAuditRepository(ctx.db);
  const accounts = createAccountsService({ db: ctx.db, secrets: ctx.secrets });
  const totps = createTotpRepository(ctx.db, ctx.secrets);
  const appPasswords = createAppPasswordRepository(ctx.db);
  const secondFactor = createSecondFactor(ctx);

  /**
   * Re-checks the account password of a signed-in user (core's confirmAccountPassword): wrong
   * answers count toward the same per-account limit as failed sign-ins, so a stolen session
   * cannot be used to guess it.
   */
  async function confirmPassword(reply: FastifyReply, me: SessionUser, password: string, ip: string, action: string): Promise<void> {
    const result = await confirmAccountPassword(ctx, me, password);
    if (result.kind === 'ok') return;
    if (result.kind === 'limited') {
      reply.header('retry-after', String(result.retryAfterSeconds));
      throw new AppError('auth.rate_limited', `too many wrong passwords; try again in ${Math.ceil(result.retryAfterSeconds / 60)} minute(s)`, 429);
    }
    await audit.record({ actorUserId: me.userId, actorAddress: me.address, action, ip, details: { reason: 'wrong password' } });
    throw new AppError('auth.invalid', 'the password is wrong', 403);
  }

  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.post(
      '/api/account/password',
      {
        schema: {
          tags: ['account'],
          description: 'Changes the account password, signs out every other session of the user and revokes all their app passwords.',
          body: changePasswordBody,
          response: { 204: noContent, ...errorResponses(400, 401, 403, 429) },
        },
      },
      async (req, reply) => {
        const me = currentUser(req);
        const problem = passwordProblem(req.body.newPassword);
        if (problem) throw new AppError('password.invalid', problem, 400);
        await confirmPassword(reply, me, req.body.currentPassword, req.ip, 'account.password_change_failed');
        const revokedAppPasswords = await accounts.changePassword(me.userId, req.body.newPassword);
        const revokedSessions = await ctx.sessions.revokeAllForUser(me.userId, me.sessionId);
        await audit.record({ actorUserId: me.userId, actorAddress: me.address, action: 'account.password_changed', target: me.address, ip: req.ip, details: { revokedSessions, revokedAppPasswords } });
        return reply.code(204).send();
      },
    );

    app.get('/api/account/totp', { schema: { tags: ['account'], response: { 200: totpStatusResponse, ...errorResponses(401) } } }, async (req) => {
      const state = await totps.get(currentUser(req).userId);
      return { enabled: state?.enabled ?? false, pendingSetup: !!state && !state.enabled && state.secret !== null };
    });

    app.post(
      '/api/account/totp/setup',
      {
        schema: {
          tags: ['account'],
          description:
            'Creates a new TOTP secret (replacing an unconfirmed one); needs the account password (wrong ones count toward the sign-in limit). It takes effect only after POST /api/account/totp/enable.',
          body: totpSetupBody,
          response: { 200: totpSetupResponse, ...errorResponses(400, 401, 403, 409, 429) },
        },
      },
      async (req, reply) => {
        const me = currentUser(req);
        await confirmPassword(reply, me, req.body.password, req.ip, 'account.totp_setup_failed');
        const secret = generateTotpSecret();
        if (!(await totps.setPendingSecret(me.userId, secret))) throw new AppError('totp.already_enabled', 'two-factor sign-in is already on; turn it off first', 409);
        await audit.record({ actorUserId: me.userId, actorAddress: me.address, action: 'account.totp_setup', target: me.address, ip: req.ip });
        return { secret, otpauthUrl: totpUri({ secret, account: me.address, issuer: TOTP_ISSUER }) };
      },
    );

    app.post(
      '/api/account/totp/enable',
      {
        schema: {
          tags: ['account'],
          description: 'Turns two-factor sign-in on once a code from the newly set-up authenticator verifies, and signs out every other session of the user.',
          body: totpCodeBody,
          response: { 204: noContent, ...errorResponses(400, 401, 403, 409, 429) },
        },
      },
      async (req, reply) => {
        const me = currentUser(req);
        const state = await totps.get(me.userId);
        if (state?.enabled) throw new AppError('totp.already_enabled', 'two-factor sign-in is already on', 409);
        if (!state?.secret) throw new AppError('totp.not_set_up', 'set up an authenticator first (POST /api/account/totp/setup)', 409);
        await secondFactor.verify(reply, me.userId, state.secret, req.body.code, 400);
        if (!(await totps.enable(me.userId, state.secret))) throw new AppError('totp.not_set_up', 'the authenticator setup changed meanwhile; set it up again', 409);
        // Sessions opened with the password alone end: from now on a session needs the code too.
        const revokedSessions = await ctx.sessions.revokeAllForUser(me.userId, me.sessionId);
        await audit.record({ actorUserId: me.userId, actorAddress: me.address, action: 'account.totp_enabled', target: me.address, ip: req.ip, details: { revokedSessions } });
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/account/totp/disable',
      {
        schema: {
          tags: ['account'],
          description: 'Turns two-factor sign-in off; needs the account password and a current code.',
          body: totpDisableBody,
          response: { 204: noContent, ...errorResponses(400, 401, 403, 409, 429) },
        },
      },
      async (req, reply) => {
        const me = currentUser(req);
        const state = await totps.get(me.userId);
        if (!state?.enabled || !state.secret) throw new AppError('totp.not_enabled', 'two-factor sign-in is not on', 409);
        await confirmPassword(reply, me, req.body.password, req.ip, 'account.totp_disable_failed');
        await secondFactor.verify(reply, me.userId, state.secret, req.body.code, 400);
        await totps.disable(me.userId);
        await audit.record({ actorUserId: me.userId, actorAddress: me.address, action: 'account.totp_disabled', target: me.address, ip: req.ip });
        return reply.code(204).send();
      },
    );

    app.get('/api/account/app-passwords', { schema: { tags: ['account'], response: { 200: appPasswordListResponse, ...errorResponses(401) } } }, async (req) => {
      const rows = await appPasswords.list(currentUser(req).userId);
      return { appPasswords: rows.map(toAppPasswordDto) };
    });

    app.post(
      '/api/account/app-passwords',
      {
        schema: {
          tags: ['account'],
          description:
            'Creates a password for one IMAP/SMTP client; needs the account password (wrong ones count toward the sign-in limit). The answer is the only time it is shown. Changing or resetting the account password revokes every app password.',
          body: appPasswordCreateBody,
          response: { 201: appPasswordCreatedResponse, ...errorResponses(400, 401, 403, 409, 429) },
        },
      },
      async (req, reply) => {
        const me = currentUser(req);
        const name = req.body.name;
        await confirmPassword(reply, me, req.body.password, req.ip, 'account.app_password_create_failed');
        if ((await appPasswords.count(me.userId)) >= MAX_APP_PASSWORDS) {
          throw new AppError('app_password.limit', `at most ${MAX_APP_PASSWORDS} app passwords; revoke one first`, 409);
        }
        const password = generateAppPassword();
        let row;
        try {
          row = await appPasswords.insert(me.userId, name, await hashPassword(password));
        } catch (err) {
          if (isUniqueViolation(err)) throw new AppError('app_password.exists', `an app password named "${name}" already exists`, 409);
          throw err;
        }
        await audit.record({ actorUserId: me.userId, actorAddress: me.address, action: 'account.app_password_created', target: me.address, ip: req.ip, details: { id: row.id, name } });
        return reply.code(201).send({ id: row.id, name: row.name, password });
      },
    );

    app.delete(
      '/api/account/app-passwords/:id',
      { schema: { tags: ['account'], params: idParam, response: { 204: noContent, ...errorResponses(400, 401, 403, 404) } } },
      async (req, reply) => {
        const me = currentUser(req);
        const name = await appPasswords.remove(me.userId, req.params.id);
        if (name === null) throw new AppError('app_password.not_found', 'no such app password', 404);
        await audit.record({ actorUserId: me.userId, actorAddress: me.address, action: 'account.app_password_revoked', target: me.address, ip: req.ip, details: { id: req.params.id, name } });
        return reply.code(204).send();
      },
    );
  };
}
