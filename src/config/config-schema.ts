import { z } from 'zod';

/**
 * The crm-sync configuration: one object, validated once at the entry point (CLI or worker) and passed down.
 * Every field has a default that runs the whole service against the embedded store and the local sandboxes, so
 * `crm-sync dev` needs no file. A real deployment overrides the S-360 and CRM sections (see `crm-sync config
 * example`).
 */

const port = z.number().int().min(0).max(65535);
const url = z.url({ message: 'expected an absolute URL, e.g. http://127.0.0.1:8081' });

export const temporalConfigSchema = z.object({
  /** host:port of the Temporal frontend. */
  address: z.string().min(1).default('127.0.0.1:7233'),
  namespace: z.string().min(1).default('default'),
  taskQueue: z.string().min(1).default('crm-sync'),
});

export const s360ConfigSchema = z.object({
  /** https://<institution>.ws.secutix.com in production. */
  baseUrl: url.default('http://127.0.0.1:8081'),
  /** JWT `sub`. */
  institution: z.string().min(1).default('DEMO'),
  /** JWT `aud`. */
  operator: z.string().min(1).default('crm-sync'),
  /** JWT `iss`. */
  partner: z.string().min(1).default('crm-sync'),
  /** HS256 secret the service signs its S-360 tokens with. */
  jwtSecret: z.string().min(16, 'expected at least 16 characters').default('sandbox-jwt-secret-change-me'),
  /** The S-360 API budget for the whole service (S-360 allows 180 calls per minute per instance). */
  callsPerMinute: z.number().int().min(1).max(100_000).default(180),
  timeoutMs: z.number().int().min(100).default(30_000),
});

/**
 * An endpoint of a CRM's own API that crm-sync pages through (its change list, its record search): where, the bearer
 * token it wants, and how many items to ask for per request.
 */
function crmApiEndpointSchema(path: string, defaultPageSize: number) {
  return z.object({
    /** The absolute URL, e.g. http://127.0.0.1:8082/<path>. */
    url: z.url({ message: `expected an absolute URL, e.g. http://127.0.0.1:8082/${path}` }),
    /** Sent as `Authorization: Bearer <apiToken>` when set. */
    apiToken: z.string().min(1).optional(),
    /** Items asked for per request. */
    pageSize: z.number().int().min(1).max(1000).default(defaultPageSize),
  });
}

export const webhookTargetSchema = z.object({
  /** Names the target in workflow IDs (`outbound-sync:<name>`) and the store. */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected lowercase letters, digits and dashes, e.g. "default"'),
  kind: z.literal('webhook'),
  /** Where contact pushes are POSTed. */
  url: url,
  /** Standard Webhooks secret, `whsec_` followed by base64. */
  signingSecret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, 'expected a Standard Webhooks secret: "whsec_" then base64'),
  timeoutMs: z.number().int().min(100).default(30_000),
  /** A contact deactivated or deleted in S-360: flag its CRM record inactive, or delete it (seed 003). */
  onS360Removal: z.enum(['deactivate', 'delete']).default('deactivate'),
  /**
   * Standard Webhooks secret the CRM signs its change events with (`POST /notifications/crm/<name>`); default: the
   * same as `signingSecret`.
   */
  inboundSigningSecret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, 'expected a Standard Webhooks secret: "whsec_" then base64')
    .optional(),
  /**
   * For a CRM that cannot call out: its change list, polled by the inbound sync (`GET <url>?after=<cursor>&limit=
   * <pageSize>` -> `{changes: [{seq, event}], nextAfter}`). Absent: changes only arrive by webhook.
   */
  changes: crmApiEndpointSchema('changes', 100).optional(),
  /**
   * The CRM's record search, for mass updates from a CRM query (`crm-sync mass-update start --crm-query Q`):
   * `GET <url>?q=<query>&after=<cursor>&limit=<pageSize>` -> `{records: [{contactNumber?, crmId?, entity, fields}],
   * nextAfter}` (`nextAfter` null on the last page). Absent: mass updates come from files only.
   */
  query: crmApiEndpointSchema('query', 200).optional(),
});

export const crmTargetSchema = z.discriminatedUnion('kind', [webhookTargetSchema]);
export type CrmTargetConfig = z.infer<typeof crmTargetSchema>;

export const defaultCrmTarget: CrmTargetConfig = {
  name: 'default',
  kind: 'webhook',
  onS360Removal: 'deactivate',
  url: 'http://127.0.0.1:8082/hooks/contacts',
  signingSecret: 'whsec_c2FuZGJveC1zaWduaW5nLXNlY3JldA==',
  timeoutMs: 30_000,
};

export const receiverConfigSchema = z.object({
  /** The address S-360 change notifications and the CLI reach the service on. */
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(8090),
  /** When set, S-360 notifications must carry `Authorization: Bearer <token>` or `?token=`. */
  s360Token: z.string().min(1).optional(),
  /** When set, the admin API (`/api`, used by the CLI) requires `Authorization: Bearer <token>`. */
  adminToken: z.string().min(1).optional(),
});

const postgresUrlExpected =
  'expected a PostgreSQL connection URL, e.g. postgresql://crm_sync:secret@db.example.com:5432/crm_sync';
const postgresUrl = z
  .string({ error: postgresUrlExpected })
  .regex(/^postgres(ql)?:\/\/[^/]/, { message: postgresUrlExpected });

export const embeddedStoreConfigSchema = z.strictObject({
  /** PGlite (PostgreSQL compiled to WebAssembly) in `<dataDir>/sync-store`, inside the worker process. */
  kind: z.literal('embedded'),
});

export const postgresStoreConfigSchema = z.strictObject({
  /** A PostgreSQL server, which several worker processes can share. */
  kind: z.literal('postgres'),
  /** `postgresql://user:password@host:5432/database`; the schema is created and migrated at start. */
  url: postgresUrl,
  /** Connections each process may open. */
  poolSize: z.number().int().min(1).max(100).default(10),
});

/**
 * Where the sync store lives. A `url` alone is enough for PostgreSQL (so that `CRM_SYNC_STORE_URL` switches a
 * deployment to it); without one, the embedded store.
 */
export const storeConfigSchema = z.preprocess(
  (value) =>
    value !== null && typeof value === 'object' && !('kind' in value)
      ? { ...value, kind: 'url' in value ? 'postgres' : 'embedded' }
      : value,
  z.discriminatedUnion('kind', [embeddedStoreConfigSchema, postgresStoreConfigSchema]),
);
export type StoreConfig = z.infer<typeof storeConfigSchema>;

export const outboundConfigSchema = z.object({
  intervalMinutes: z.number().int().min(1).max(1440).default(15),
  maxContactsPerRun: z.number().int().min(1).max(500).default(100),
  batchSize: z.number().int().min(1).max(50).default(50),
});

export const mappingSettingsSchema = z.object({
  /** The mapping file (YAML or JSON); default: the delivered `mappings/default.yaml`. */
  file: z.string().min(1).optional(),
});

export const devConfigSchema = z.object({
  temporalPort: port.default(7233),
  temporalUiPort: port.default(8233),
  s360SandboxPort: port.default(8081),
  crmSandboxPort: port.default(8082),
  /** Contacts generated in the S-360 sandbox when `crm-sync dev` starts on an empty data folder. */
  generateContacts: z.number().int().min(0).max(1_000_000).default(250),
  seed: z.number().int().default(42),
});

export const configSchema = z.object({
  /** Holds the embedded store and the dev server's database. Relative paths are resolved from the cwd. */
  dataDir: z.string().min(1).default('./data'),
  temporal: temporalConfigSchema.default(temporalConfigSchema.parse({})),
  s360: s360ConfigSchema.default(s360ConfigSchema.parse({})),
  crm: z
    .object({
      targets: z
        .array(crmTargetSchema)
        .min(1, 'expected at least one CRM target')
        .refine((targets) => new Set(targets.map((t) => t.name)).size === targets.length, {
          message: 'target names must be unique',
        })
        .default([defaultCrmTarget]),
    })
    .default({ targets: [defaultCrmTarget] }),
  receiver: receiverConfigSchema.default(receiverConfigSchema.parse({})),
  store: storeConfigSchema.default({ kind: 'embedded' }),
  outbound: outboundConfigSchema.default(outboundConfigSchema.parse({})),
  /** The CRM -> S-360 sync: same settings and limits as the outbound one. */
  inbound: outboundConfigSchema.default(outboundConfigSchema.parse({})),
  // A section left with only comments reads as null: the defaults then.
  mapping: mappingSettingsSchema.nullish().transform((mapping) => mapping ?? {}),
  dev: devConfigSchema.default(devConfigSchema.parse({})),
});

export type CrmSyncConfig = z.infer<typeof configSchema>;
/** The configuration before defaults: what a file may contain. */
export type CrmSyncConfigInput = z.input<typeof configSchema>;
