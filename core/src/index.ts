/**
 * @mailyard/core, the server side: what the services, the CLI, the tests and the benchmarks use,
 * named one by one (no catch-all), grouped by layer (docs/ARCHITECTURE.md). The browser imports
 * @mailyard/core/contracts instead, and never this file. Export something new here when an app
 * needs it; keep core's internals (e.g. the DKIM private-key reader) out.
 */

// config
export { ConfigError, type BaseConfig, type HttpConfig, type ImapConfig, type InboundConfig, type MetricsAccess, type OutboundConfig, type SmtpConfig, type StackConfig, configuredRedisTarget, loadConfig, requireServiceEndpoints, schemas } from './config/load-config.js';

// log
export { createLogger, type Logger, silentLogger } from './log/logger.js';

// errors
export { AppError, isUniqueViolation } from './errors.js';

// util
export { KeyedBatcher } from './util/keyed-batcher.js';
export { KeyedSemaphore, Semaphore } from './util/semaphore.js';
export { WeightedLru } from './util/weighted-lru.js';

// db
export { type Db, createDb, pingDatabase } from './db/client.js';
export { type FilterCheckJson, type SpecialUse } from './db/schema.js';

// repositories
export { createAuditRepository } from './repositories/audit.repository.js';
export { blobHash, createBlobRepository } from './repositories/blob.repository.js';
export { type ChangeRepository, createChangeRepository } from './repositories/change.repository.js';
export { createContactRepository } from './repositories/contact.repository.js';
export { createAppPasswordRepository, createTotpRepository } from './repositories/credential.repository.js';
export { type DomainRow, type DomainTrustPolicy, DEFAULT_TRUST_POLICY, createDomainAdminRepository, createDomainRepository } from './repositories/domain.repository.js';
export { type SenderRuleKind, type SenderRuleRow, type SenderRuleRepository, createSenderRuleRepository, normalizeSenderPattern, senderPatternsFor } from './repositories/sender-rule.repository.js';
export { createMailboxRepository } from './repositories/mailbox.repository.js';
export { type MessageListItem, createMessageRepository } from './repositories/message.repository.js';
export { type ClaimedDelivery, type ClaimedWork, type DeliveryOutcome, type DueKey, type OutboundMessageRow, type OutboundRepository, type QueuedDeliveryRow, type SenderScope, CANCELLED_DELIVERY_REPLY, createOutboundRepository, dueKey } from './repositories/outbound.repository.js';
export { type AdminStats, createAdminStatsRepository } from './repositories/admin-stats.repository.js';
export { createSearchRepository } from './repositories/search.repository.js';
export { createSearchIndexRepository, SEARCH_VECTOR_SQL } from './repositories/search-index.repository.js';
export { type SearchIndexer, type SearchIndexerOptions, startSearchIndexer } from './search/search-indexer.js';
export { type SpoolInput, createSpoolRepository } from './repositories/spool.repository.js';
export { createScheduledSendRepository, type ScheduledSendRow } from './repositories/scheduled-send.repository.js';
export { createUploadRepository } from './repositories/upload.repository.js';
export { createUserRepository, type QuotaUsage } from './repositories/user.repository.js';

// contracts
export { type UserEvent, userChannel } from './contracts/events.js';

// api
export { attachmentUrl, toAdminAuditEntryDto, toAdminDomainDto, toAdminUserDto, toAppPasswordDto, toContactDto, toMailboxDto, toMessageDetailDto, toMessageListItemDto, toMessageStateDto, toMovedStateResponse, toOutboundDto, toScheduledSendDto, toSenderRuleDto } from './api/mappers.js';

// mail
export { domainOf, normalizeDomain, parseAddress, requireAddress, requireAliasAddress } from './mail/address.js';
export { DEFAULT_MAX_MESSAGE_BYTES, type DraftDeps, type DraftInput, type DraftSender, deleteDraft, listDrafts, replaceDraft, saveDraft } from './mail/drafts.js';
export { type DsnRecipient, buildDsn, headerBlock, statusFromReply } from './mail/dsn.js';
export { type IngestInput, type IngestResult, type MessageOpsDeps, createMailbox, deleteMailbox, deleteMessages, emptyMailbox, ingestForUser, ingestMany, ingestMessage, moveMessages, openMailboxWrite, publishMailboxEvents, renameMailbox, setFlags } from './mail/mailbox-writer/index.js';
export { EMPTYABLE, MailboxWrite } from './mail/mailbox-writer/mailbox-write.js';
export { loadMessageBytes, loadMessagePart, loadStoredMessage } from './mail/message-content.js';
export { exportMailboxes } from './mail/transfer/export.js';
export { type ImportProgress, importMessages, mboxImportItems } from './mail/transfer/import.js';
export { summarizeMessage } from './mail/parse.js';
export { countHeaderFields, headerFields, isMailLoop, MAX_RECEIVED_FIELDS, splitMessage } from './mail/raw-headers.js';
export { type RecipientVerdict, resolveRecipient, resolveRecipients } from './mail/recipient-routing.js';
export { type MessageRenderer, sharedMessageRenderer } from './mail/render/renderer.js';
export type { MessageAttachment } from './mail/render.js';
export { createInlineImageLinks, type InlineImageLink, type InlineImageLinks } from './mail/render/inline-image-links.js';
export { parseSearchQuery } from './mail/search-query.js';
export { cancelHeld, type HeldResult, type HoldDeps, holdMessage, NotDueError, sendHeld } from './mail/scheduled-send.js';
export { type DispatchDeps, MAX_RECIPIENTS_PER_MESSAGE, type SendDeps, type SendInput, SendRateLimitedError, SenderNotAllowedError, type SubmitEnvelope, sendMessage } from './mail/send.js';

// auth
export { APP_PASSWORD_PATTERN, MAX_APP_PASSWORDS, generateAppPassword } from './auth/app-password.js';
export { type ClientAuthResult, type ClientCredentials, type SignInFailureRules, authenticateClient, confirmAccountPassword } from './auth/authenticate.js';
export { hashPassword, passwordProblem } from './auth/password.js';
export { DRAFT_SAVES_PER_USER, type RateLimitRule, type RateLimiter, SENT_MESSAGES_PER_USER, TOTP_FAILURES_PER_ACCOUNT, createRateLimiter } from './auth/rate-limit.js';
export { type SecretBox, createSecretBox, loadSecretKey } from './auth/secret-box.js';
export { type SessionService, type SessionUser, createSessionService } from './auth/session.service.js';
export { TOTP_STEP_SECONDS, TOTP_WINDOW, base32Decode, generateTotpSecret, totp, totpUri, verifyTotp } from './auth/totp.js';

// accounts
export { createAccountsService } from './accounts/accounts.service.js';
export { type AdminActor, canManageDomain, domainsVisibleTo, listUsersVisibleTo, requireAdminArea, requireFullAdmin, requireManagedUser } from './accounts/admin-scope.js';
export { type DkimKeyDeps, activeDkimKey, activeDkimPublicKey, dkimTxtRecord, rotateDkimKey, sealLegacyDkimKeys } from './accounts/dkim.service.js';
export { checkRecords, createDnsResolver, expectedRecords } from './accounts/dns-helper.js';

// events
export { type ChangeFeed, type FeedItem, openChangeFeed } from './events/change-feed.js';
export { type ChangeLogEvent, toChangeRow } from './events/change-log.js';
export { type EventPublisher, createRedisEventPublisher } from './events/publisher.js';
export { type UserEventHub, createUserEventHub } from './events/user-event-hub.js';

// spool
export { type SpooledMessage, type SpoolFiling, type SpoolFilingOutcome, commitSpoolFilings, fileSpooled } from './spool/spool-filer.js';
export { reconcileSpool } from './spool/spool-reconciler.js';
export { SpoolWriter } from './spool/spool-writer.js';

// storage
export { cleanContentType, cleanFilename, newUploadId, removeFile, uploadPath, uploadsDir } from './storage/upload-files.js';

// queue
export { startHousekeeping } from './queue/housekeeping.js';
export { type InboundQueue, type OutboundQueue, QUEUE_INBOUND, QUEUE_OUTBOUND, QUEUE_SCHEDULED_SEND, type ScheduledSendQueue, createInboundQueue, createOutboundQueue, createScheduledSendQueue, inboundBatchJobId, inboundJobId, inboundJobSchema, inboundJobSpoolIds, outboundJobId, outboundJobSchema, scheduledSendJobId, scheduledSendJobSchema } from './queue/queues.js';
export { createRedis, createSubscriberRedis, requireRedis } from './queue/redis.js';
export { runWithReconciler } from './queue/worker-runner.js';
export { type SpamLearnJob, type SpamLearnQueue, QUEUE_SPAM_LEARN, createSpamLearnQueue, spamLearnJobId, spamLearnJobSchema } from './queue/spam-learn.js';

// housekeeping
export { trashPurgeTask } from './housekeeping/trash-purge.task.js';
export { uploadSweepTask } from './housekeeping/upload-sweep.task.js';
export { BLOB_TOTALS_KEY, blobReclaimTask, type BlobTotals } from './housekeeping/blob-reclaim.task.js';
export { spoolPurgeTask } from './housekeeping/spool-purge.task.js';
export { outboundPurgeTask } from './housekeeping/outbound-purge.task.js';

// protocol-services
export {
  type InboundTrustService,
  type MxConnectionChecks,
  type MxGreylist,
  type MxVirusScan,
  type MxRecipientResolver,
  type MxRecipientVerdict,
  type MxServices,
  type RecipientResolver,
  type SubmissionServices,
  createMxRecipientResolver,
  createMxVirusScan,
  createRecipientResolver,
  createSubmissionServices,
} from './protocol-services/smtp.js';
export { type TrustAction, type TrustInput, type TrustVerdict, createAuthDnsResolver, createInboundTrust, spoolVerdictOf } from './mail/inbound-auth.js';
export { type TrustedNetworks, DEFAULT_TRUSTED_NETWORKS, parseTrustedNetworks } from './mail/trusted-networks.js';
export { type SpamThresholds } from './mail/spam/score.js';
export type { SpamEngine, SpamEngineInput, SpamEngineResult } from './mail/spam/engine.js';
export { type RspamdEngineOptions, SpamLearnError, createRspamdEngine, createSpamEngineFromConfig, parseRspamdReply } from './mail/spam/rspamd.js';
export { type LearnKind, type SpamLearnDeps, learnFromTransfers, learnKindOf, performLearn, requestLearn } from './mail/spam/learn.js';
export { type Greylist, type GreylistDecision, type GreylistQuery, clientNetwork, createGreylist } from './mail/spam/greylist.js';
export { type ConnectionCheckDeps, checkConnection, reversedIp } from './mail/spam/connection-checks.js';
export { type VirusScanResult, type VirusScanner, VIRUS_REFUSED_COUNTER, createClamdScanner, parseClamdReply } from './mail/spam/virus-scan.js';
export { type ImapAppended, type ImapAppendInput, type ImapChangeFeed, type ImapChanges, type ImapMailboxes, type ImapMailboxInfo, type ImapMessageRow, type ImapMessages, type ImapSortFields, type ImapServiceDeps, type ImapServices, type ImapTextField, createImapServices } from './protocol-services/imap.js';

// runtime
export { type Resources, startService } from './runtime/lifecycle.js';
export { listenOn } from './runtime/listen.js';
export { startHealthServer } from './runtime/health-server.js';
export { HEAP_GROWING_PERCENT, limitHeapGrowth } from './runtime/heap.js';
export { countJobsProcessed, MetricsRegistry, processMetricFamilies, PROMETHEUS_CONTENT_TYPE, renderMetrics, type Counter, type Gauge, type JobEvents, type MetricFamily, type MetricLabels, type MetricSample } from './runtime/metrics.js';
export { type RedisLock, tryRedisLock } from './runtime/redis-lock.js';
export { type Running, runMain } from './runtime/run-main.js';
export { openStore } from './runtime/store.js';
export { type TlsMaterial, type TlsSource, loadTlsMaterial, openTlsSource, openTlsSourceFromConfig } from './runtime/tls.js';
export { type AcmeChallengeStore, createAcmeChallengeStore } from './runtime/acme/acme-challenges.js';
export { startAcmeRenewal } from './runtime/acme/acme-renewal.js';

