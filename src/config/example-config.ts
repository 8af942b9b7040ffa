/**
 * The complete, commented configuration printed by `crm-sync config example`. Every value shown is the default,
 * so the file as printed behaves exactly like no file at all (a test keeps the two in step).
 */
export const exampleConfigYaml = `# crm-sync configuration (YAML or JSON). Pass it with --config FILE or CRM_SYNC_CONFIG, or name it
# crm-sync.config.yaml in the working directory. Environment variables override it (listed beside each value).
# Every value below is the default: the defaults run against the local sandboxes started by \`crm-sync dev\`.

# Folder of the embedded sync store and of the dev server's database.          CRM_SYNC_DATA_DIR
dataDir: ./data

temporal:
  address: 127.0.0.1:7233        # Temporal frontend host:port                  CRM_SYNC_TEMPORAL_ADDRESS
  namespace: default             #                                              CRM_SYNC_TEMPORAL_NAMESPACE
  taskQueue: crm-sync            # the worker polls it, the CLI starts work on it  CRM_SYNC_TASK_QUEUE

s360:
  # https://<institution>.ws.secutix.com for a real S-360 instance.             CRM_SYNC_S360_BASE_URL
  baseUrl: http://127.0.0.1:8081
  institution: DEMO              # JWT "sub"                                    CRM_SYNC_S360_INSTITUTION
  operator: crm-sync             # JWT "aud"                                    CRM_SYNC_S360_OPERATOR
  partner: crm-sync              # JWT "iss"                                    CRM_SYNC_S360_PARTNER
  # HS256 secret for the service's S-360 tokens (at least 16 characters).       CRM_SYNC_S360_JWT_SECRET
  jwtSecret: sandbox-jwt-secret-change-me
  # API budget of the whole service; S-360 allows 180 calls per minute.         CRM_SYNC_S360_CALLS_PER_MINUTE
  callsPerMinute: 180
  timeoutMs: 30000

crm:
  # One entry per CRM. Each gets its own sync workflows, outbound-sync:<name> and inbound-sync:<name>.
  targets:
    - name: default
      kind: webhook              # contacts are POSTed, signed per Standard Webhooks
      url: http://127.0.0.1:8082/hooks/contacts                               # CRM_SYNC_CRM_WEBHOOK_URL
      signingSecret: whsec_c2FuZGJveC1zaWduaW5nLXNlY3JldA==                   # CRM_SYNC_CRM_SIGNING_SECRET
      timeoutMs: 30000
      onS360Removal: deactivate  # a contact deactivated or deleted in S-360: deactivate (flag) or delete in the CRM
      # The secret the CRM signs its change events with (POST /notifications/crm/default); default: signingSecret.
      # inboundSigningSecret: whsec_...                                      # CRM_SYNC_CRM_INBOUND_SIGNING_SECRET
      # For a CRM that cannot call out: crm-sync polls its change list at the start of every inbound run.
      # changes:
      #   url: http://127.0.0.1:8082/changes   # GET ?after=<cursor>&limit=<pageSize> -> {changes, nextAfter}
      #   apiToken: a-crm-api-token            # sent as "Authorization: Bearer <apiToken>" when set
      #   pageSize: 100                        # changes per request, 1..1000
      # For mass updates from a CRM query (crm-sync mass-update start --crm-query Q): the CRM's record search.
      # query:
      #   url: http://127.0.0.1:8082/query     # GET ?q=<query>&after=<cursor>&limit=<pageSize> -> {records, nextAfter}
      #   apiToken: a-crm-api-token            # sent as "Authorization: Bearer <apiToken>" when set
      #   pageSize: 200                        # records per request, 1..1000

# The service's HTTP endpoint: S-360 change notifications (POST /notifications/s360), CRM change events
# (POST /notifications/crm/<target>) and the admin API the CLI uses (/api).
receiver:
  host: 127.0.0.1                #                                              CRM_SYNC_RECEIVER_HOST
  port: 8090                     #                                              CRM_SYNC_RECEIVER_PORT
  # s360Token: a-shared-secret   # required on notifications when set           CRM_SYNC_RECEIVER_S360_TOKEN
  # adminToken: another-secret   # required on /api when set                    CRM_SYNC_ADMIN_TOKEN

# Where crm-sync keeps its outbox, parked records and last synced states.
store:
  kind: embedded                 # PGlite under <dataDir>/sync-store, owned by the one worker process
  # A PostgreSQL server instead, which several worker processes can share (the schema is created at start):
  # kind: postgres
  # url: postgresql://crm_sync:secret@db.example.com:5432/crm_sync          # CRM_SYNC_STORE_URL (sets kind too)
  # poolSize: 10                 # connections per process, 1..100           CRM_SYNC_STORE_POOL_SIZE

# Defaults for new outbound sync workflows; change a running one with \`crm-sync outbound configure\`.
outbound:
  intervalMinutes: 15            # 1..1440                                      CRM_SYNC_OUTBOUND_INTERVAL_MINUTES
  maxContactsPerRun: 100         # 1..500                                       CRM_SYNC_OUTBOUND_MAX_CONTACTS_PER_RUN
  batchSize: 50                  # contacts per push, 1..50                     CRM_SYNC_OUTBOUND_BATCH_SIZE

# The CRM -> S-360 sync (inbound-sync:<target>): CRM changes posted to /notifications/crm/<target>, written to
# S-360 within the same API budget.
inbound:
  intervalMinutes: 15            # 1..1440                                      CRM_SYNC_INBOUND_INTERVAL_MINUTES
  maxContactsPerRun: 100         # 1..500                                       CRM_SYNC_INBOUND_MAX_CONTACTS_PER_RUN
  batchSize: 50                  # changes per batch, 1..50                     CRM_SYNC_INBOUND_BATCH_SIZE

# Which S-360 attribute goes to which CRM field, in which direction (see mappings/default.yaml, delivered with
# crm-sync; copy it to start your own). \`crm-sync mapping check\` validates it.
mapping:
  # file: ./my-mapping.yaml      # default: the delivered mappings/default.yaml  CRM_SYNC_MAPPING_FILE

# Used by \`crm-sync dev\` only.
dev:
  temporalPort: 7233
  temporalUiPort: 8233
  s360SandboxPort: 8081
  crmSandboxPort: 8082
  generateContacts: 250          # generated in the S-360 sandbox on a fresh data folder
  seed: 42
`;
