import type { S360ContactUpdate } from '../adapters/s360/s360-client';
import { runMigrations } from './migrations';
import { PlannerStatistics } from './planner-statistics';
import type { SqlClient, SqlQueryable } from './sql-client';
import { importClaimPrefix } from './sync-store';
import type {
  CrmLink,
  HeldRelay,
  SyncConflict,
  ClaimedEntry,
  ClaimInput,
  InboundChange,
  MassUpdateParkedRow,
  MassUpdateParkInput,
  MassUpdateSourceRow,
  OutboxCounts,
  OutboxKey,
  ParkedRecord,
  ParkInput,
  StagedPush,
  SyncDirection,
  SyncedFieldValue,
  SyncedRecord,
  SyncStore,
} from './sync-store';

/** Options of {@link PgSyncStore}. */
export interface PgSyncStoreOptions {
  /** Releases the connection or pool when the store is closed (the store does not own it otherwise). */
  onClose?: () => Promise<void>;
  /** A background `ANALYZE` failed (see {@link PlannerStatistics}); the store goes on, and a later one tries again. */
  onStatisticsError?: (err: unknown) => void;
}

interface ParkedRow {
  direction: SyncDirection;
  target: string;
  contact_number: string;
  code: string;
  reason: string;
  field: string | null;
  attempts: number;
  first_parked_at: Date | string;
  last_parked_at: Date | string;
}

interface MassUpdateParkedDbRow {
  update_id: string;
  line: number;
  contact_number: string | null;
  code: string;
  reason: string;
  row_update: unknown;
  attempts: number;
  first_parked_at: Date | string;
  last_parked_at: Date | string;
}

interface ConflictRow {
  target: string;
  contact_number: string;
  field: string;
  base_value: string | null;
  s360_value: string | null;
  crm_value: string | null;
  policy: string;
  winner: string;
  decided_at: Date | string;
}

interface StagedPushRow {
  push_id: string;
  target: string;
  contact_numbers: unknown;
  body: string;
  held_relays: unknown;
  delivered_at: Date | string | null;
}

interface InboundChangeRow {
  target: string;
  contact_number: string;
  crm_id: string | null;
  kind: InboundChange['kind'];
  entity: InboundChange['entity'] | null;
  fields: unknown;
  changed_at: Date | string;
  received_at: Date | string;
}

/** A field value stored as jsonb and selected as text (SQL NULL and JSON null are both null). */
function jsonText(text: string | null): SyncedFieldValue {
  return text === null ? null : (JSON.parse(text) as SyncedFieldValue);
}

/** A jsonb value as the driver gives it: parsed already (PGlite, pg) or as text. */
function fromJson(value: unknown): unknown {
  return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
}

/**
 * The {@link SyncStore} in plain PostgreSQL, over any {@link SqlClient}: PGlite for the embedded default, a
 * PostgreSQL pool in production. Every operation of more than one statement runs in a transaction.
 *
 * Time comes from the database (`now()`, the transaction's start), so several processes sharing a PostgreSQL
 * server order the outbox by one clock. The outbox is claimed oldest first: by first enqueue time, then by
 * arrival (a sequence, since PGlite's clock only has millisecond resolution); contacts enqueued by one call are
 * ordered by contact number among themselves.
 *
 * A parked contact that a new change enqueues again stays parked (still listed, with its reason) and is queued
 * as well: the new change deserves a fresh try, and the record stays visible to operators until a sync of that
 * contact succeeds ({@link PgSyncStore.acknowledge} clears it) or it is retried.
 */
export class PgSyncStore implements SyncStore {
  private closing: Promise<void> | undefined;
  private readonly statistics: PlannerStatistics;

  constructor(
    private readonly sql: SqlClient,
    private readonly options: PgSyncStoreOptions = {},
  ) {
    this.statistics = new PlannerStatistics(sql, options.onStatisticsError);
  }

  async migrate(): Promise<void> {
    await runMigrations(this.sql);
  }

  /** Idempotent: a second call waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.statistics.settled().then(() => this.options.onClose?.());
    return this.closing;
  }

  async enqueue(input: {
    direction: SyncDirection;
    targets: string[];
    contactNumbers: string[];
  }): Promise<void> {
    const targets = unique(input.targets);
    const contactNumbers = unique(input.contactNumbers);
    await enqueueRows(this.sql, input.direction, targets, contactNumbers);
    this.statistics.wrote(targets.length * contactNumbers.length);
  }

  async claim(input: ClaimInput): Promise<ClaimedEntry[]> {
    const limit = Math.max(0, Math.floor(input.limit));
    return this.sql.transaction(async (tx) => {
      const held = await heldBy(tx, input, input.claimId);
      if (held.length > 0 || limit === 0) return held;
      // Rows held by another claim of this key belong to a run that ended (one workflow per target at a time),
      // except those an import holds: it acknowledges or releases them itself (or is presumed dead after an hour).
      const { rows } = await tx.query<{ contact_number: string }>(
        `select contact_number from outbox
          where direction = $1 and target = $2
            and (claim_id is null
                 or (claim_id <> $3
                     and (not starts_with(claim_id, '${importClaimPrefix}')
                          or claimed_at < now() - interval '1 hour')))
          order by first_enqueued_at, enqueue_seq
          limit $4
          for update`,
        [input.direction, input.target, input.claimId, limit],
      );
      if (rows.length === 0) return [];
      await tx.query(
        `update outbox set claim_id = $3, claimed_version = version, claimed_at = now()
          where direction = $1 and target = $2 and contact_number = any($4::text[])`,
        [input.direction, input.target, input.claimId, rows.map((row) => row.contact_number)],
      );
      return heldBy(tx, input, input.claimId);
    });
  }

  /**
   * Deletes the delivered rows held by this claim and releases the ones changed since (they stay queued). A
   * delivered contact is no longer failing, so its parked record of this key, if any, is cleared too.
   */
  async acknowledge(input: OutboxKey & { claimId: string; contactNumbers: string[] }): Promise<void> {
    const contactNumbers = unique(input.contactNumbers);
    if (contactNumbers.length === 0) return;
    // One statement (atomic, one round trip): rows unchanged since the claim leave, rows changed since are
    // released, and the parked records of both go.
    await this.sql.query(
      `with done as (
         delete from outbox
          where direction = $1 and target = $2 and claim_id = $3 and contact_number = any($4::text[])
            and version = claimed_version
         returning contact_number
       ), released as (
         update outbox set claim_id = null, claimed_version = null, claimed_at = null
          where direction = $1 and target = $2 and claim_id = $3 and contact_number = any($4::text[])
            and version <> claimed_version
         returning contact_number
       )
       delete from parked
        where direction = $1 and target = $2
          and contact_number in (select contact_number from done union all select contact_number from released)`,
      [input.direction, input.target, input.claimId, contactNumbers],
    );
  }

  /**
   * Records the failure (a repeat raises `attempts` and keeps `firstParkedAt`) and takes the contact out of the
   * outbox. With a `claimId`, only a row held by that claim leaves, and only if it did not change since the claim:
   * a newer change stays queued, released, for a fresh try.
   */
  async park(input: ParkInput): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query(
        `insert into parked (direction, target, contact_number, code, reason, field, attempts,
                             first_parked_at, last_parked_at)
         values ($1, $2, $3, $4, $5, $6, 1, now(), now())
         on conflict (direction, target, contact_number) do update
            set code = excluded.code, reason = excluded.reason, field = excluded.field,
                attempts = parked.attempts + 1, last_parked_at = excluded.last_parked_at,
                park_seq = nextval('parked_seq')`,
        [input.direction, input.target, input.contactNumber, input.code, input.reason, input.field ?? null],
      );
      if (input.claimId === undefined) {
        await tx.query('delete from outbox where direction = $1 and target = $2 and contact_number = $3', [
          input.direction,
          input.target,
          input.contactNumber,
        ]);
      } else {
        await finishClaimed(tx, input, input.claimId, [input.contactNumber]);
      }
    });
  }

  /** Newest first (by the last time parked). Without a filter, every key; without a limit, every record. */
  async listParked(
    filter: Partial<OutboxKey> & { contactNumbers?: string[]; limit?: number } = {},
  ): Promise<ParkedRecord[]> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (filter.direction !== undefined) {
      params.push(filter.direction);
      conditions.push(`direction = $${params.length}`);
    }
    if (filter.target !== undefined) {
      params.push(filter.target);
      conditions.push(`target = $${params.length}`);
    }
    if (filter.contactNumbers !== undefined) {
      params.push(unique(filter.contactNumbers));
      conditions.push(`contact_number = any($${params.length}::text[])`);
    }
    let limit = '';
    if (filter.limit !== undefined) {
      params.push(Math.max(0, Math.floor(filter.limit)));
      limit = `limit $${params.length}`;
    }
    const { rows } = await this.sql.query<ParkedRow>(
      `select direction, target, contact_number, code, reason, field, attempts, first_parked_at, last_parked_at
         from parked
        ${conditions.length > 0 ? `where ${conditions.join(' and ')}` : ''}
        order by last_parked_at desc, park_seq desc
        ${limit}`,
      params,
    );
    return rows.map(toParkedRecord);
  }

  async retryParked(input: OutboxKey & { contactNumbers?: string[] }): Promise<number> {
    const only = input.contactNumbers === undefined ? undefined : unique(input.contactNumbers);
    if (only?.length === 0) return 0;
    return this.sql.transaction(async (tx) => {
      const { rows } = await tx.query<{ contact_number: string }>(
        `delete from parked
          where direction = $1 and target = $2 and ($3::text[] is null or contact_number = any($3::text[]))
        returning contact_number`,
        [input.direction, input.target, only ?? null],
      );
      const contactNumbers = rows.map((row) => row.contact_number);
      await enqueueRows(tx, input.direction, [input.target], contactNumbers);
      return contactNumbers.length;
    });
  }

  async stagePush(push: Omit<StagedPush, 'deliveredAt'>): Promise<boolean> {
    const { rows } = await this.sql.query(
      `insert into staged_push (push_id, target, contact_numbers, body, held_relays, created_at)
       values ($1, $2, $3::jsonb, $4, $5::jsonb, now())
       on conflict (push_id) do nothing
       returning push_id`,
      [
        push.pushId,
        push.target,
        JSON.stringify(push.contactNumbers),
        push.body,
        JSON.stringify(push.heldRelays ?? []),
      ],
    );
    this.statistics.wrote(rows.length);
    return rows.length > 0;
  }

  async recordDelivered(input: {
    target: string;
    claimId: string;
    records: Array<{ contactNumber: string; entity: string; fields: Record<string, SyncedFieldValue> }>;
    pushId?: string;
  }): Promise<void> {
    if (input.records.length === 0) {
      if (input.pushId !== undefined) await this.markPushDelivered(input.pushId);
      return;
    }
    const latest = new Map(input.records.map((record) => [record.contactNumber, record]));
    // One statement (atomic, one round trip) for what saveSyncedStates, recordSynced, acknowledge and
    // markPushDelivered do one by one.
    await this.sql.query(
      `with accepted as (
         select r.contact_number, r.entity, r.fields
           from jsonb_to_recordset($3::jsonb) as r(contact_number text, entity text, fields jsonb)
       ), states as (
         insert into synced_state (target, contact_number, fields, updated_at)
         select $1, contact_number, fields, now() from accepted
         on conflict (target, contact_number) do update
            set fields = excluded.fields, updated_at = excluded.updated_at
       ), links as (
         insert into crm_link (target, contact_number, entity, first_synced_at, last_synced_at)
         select $1, contact_number, entity, now(), now() from accepted
         on conflict (target, contact_number) do update
            set entity = excluded.entity, last_synced_at = excluded.last_synced_at
       ), done as (
         delete from outbox
          where direction = 'outbound' and target = $1 and contact_number = any($5::text[])
            and claim_id = $2 and version = claimed_version
         returning contact_number
       ), released as (
         update outbox set claim_id = null, claimed_version = null, claimed_at = null
          where direction = 'outbound' and target = $1 and contact_number = any($5::text[])
            and claim_id = $2 and version <> claimed_version
         returning contact_number
       ), delivered as (
         update staged_push set delivered_at = coalesce(delivered_at, now()) where push_id = $4
       )
       delete from parked
        where direction = 'outbound' and target = $1 and contact_number = any($5::text[])
          and contact_number in (select contact_number from done union all select contact_number from released)`,
      [
        input.target,
        input.claimId,
        JSON.stringify(
          [...latest.values()].map((record) => ({
            contact_number: record.contactNumber,
            entity: record.entity,
            fields: record.fields,
          })),
        ),
        input.pushId ?? null,
        // The contact numbers again, as an array, so that the outbox and parked rows can be found through their
        // primary key (which the planner does once it has statistics: see PlannerStatistics).
        [...latest.keys()],
      ],
    );
    // A synced state and a link per record.
    this.statistics.wrote(latest.size * 2);
  }

  async getStagedPush(pushId: string): Promise<StagedPush | undefined> {
    const { rows } = await this.sql.query<StagedPushRow>(
      `select push_id, target, contact_numbers, body, held_relays, delivered_at
         from staged_push where push_id = $1`,
      [pushId],
    );
    const row = rows[0];
    if (!row) return undefined;
    const contactNumbers =
      typeof row.contact_numbers === 'string'
        ? (JSON.parse(row.contact_numbers) as unknown)
        : row.contact_numbers;
    const heldRelays = fromJson(row.held_relays);
    return {
      pushId: row.push_id,
      target: row.target,
      contactNumbers: Array.isArray(contactNumbers) ? contactNumbers.map(String) : [],
      body: row.body,
      heldRelays: Array.isArray(heldRelays) ? (heldRelays as HeldRelay[]) : [],
      ...(row.delivered_at !== null ? { deliveredAt: toIso(row.delivered_at) } : {}),
    };
  }

  /** Idempotent: the first delivery time is kept. */
  async markPushDelivered(pushId: string): Promise<void> {
    await this.sql.query(
      'update staged_push set delivered_at = coalesce(delivered_at, now()) where push_id = $1',
      [pushId],
    );
  }

  async release(input: OutboxKey & { claimId: string; contactNumbers: string[] }): Promise<void> {
    const contactNumbers = unique(input.contactNumbers);
    if (contactNumbers.length === 0) return;
    await this.sql.query(
      `update outbox set claim_id = null, claimed_version = null, claimed_at = null
        where direction = $1 and target = $2 and claim_id = $3 and contact_number = any($4::text[])`,
      [input.direction, input.target, input.claimId, contactNumbers],
    );
  }

  async recordSynced(input: {
    target: string;
    records: Array<{ contactNumber: string; entity: string }>;
  }): Promise<void> {
    if (input.records.length === 0) return;
    await this.sql.query(
      `insert into crm_link (target, contact_number, entity, first_synced_at, last_synced_at)
       select $1, record.contact_number, record.entity, now(), now()
         from jsonb_to_recordset($2::jsonb) as record(contact_number text, entity text)
       on conflict (target, contact_number) do update
          set entity = excluded.entity, last_synced_at = excluded.last_synced_at`,
      [
        input.target,
        JSON.stringify(
          [...new Map(input.records.map((record) => [record.contactNumber, record])).values()].map(
            (record) => ({ contact_number: record.contactNumber, entity: record.entity }),
          ),
        ),
      ],
    );
  }

  /**
   * Upserts the change unless the stored one is newer (same `changedAt`: the later arrival wins), then queues the
   * contact inbound for the target, in one transaction. A deletion without an entity keeps the entity stored. Times
   * come back as UTC ISO with milliseconds.
   */
  async recordInboundChange(change: Omit<InboundChange, 'receivedAt'>): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query(
        `insert into inbound_change (target, contact_number, kind, entity, fields, changed_at, received_at, crm_id)
         values ($1, $2, $3, $4, $5::jsonb, $6::timestamptz, now(), $7)
         on conflict (target, contact_number) do update
            set kind = excluded.kind, entity = coalesce(excluded.entity, inbound_change.entity),
                crm_id = coalesce(excluded.crm_id, inbound_change.crm_id),
                fields = excluded.fields, changed_at = excluded.changed_at, received_at = excluded.received_at
          where inbound_change.changed_at <= excluded.changed_at`,
        [
          change.target,
          change.contactNumber,
          change.kind,
          change.entity ?? null,
          JSON.stringify(change.fields),
          change.changedAt,
          change.crmId ?? null,
        ],
      );
      await enqueueRows(tx, 'inbound', [change.target], [change.contactNumber]);
    });
  }

  async getInboundChanges(input: { target: string; contactNumbers: string[] }): Promise<InboundChange[]> {
    const contactNumbers = unique(input.contactNumbers);
    if (contactNumbers.length === 0) return [];
    const { rows } = await this.sql.query<InboundChangeRow>(
      `select target, contact_number, crm_id, kind, entity, fields, changed_at, received_at
         from inbound_change
        where target = $1 and contact_number = any($2::text[])
        order by contact_number`,
      [input.target, contactNumbers],
    );
    return rows.map((row) => ({
      target: row.target,
      contactNumber: row.contact_number,
      ...(row.crm_id !== null ? { crmId: row.crm_id } : {}),
      kind: row.kind,
      ...(row.entity !== null ? { entity: row.entity } : {}),
      fields: toFields(row.fields),
      changedAt: toIso(row.changed_at),
      receivedAt: toIso(row.received_at),
    }));
  }

  async getSyncedStates(input: {
    target: string;
    contactNumbers: string[];
  }): Promise<Map<string, Record<string, SyncedFieldValue>>> {
    const states = new Map<string, Record<string, SyncedFieldValue>>();
    const contactNumbers = unique(input.contactNumbers);
    if (contactNumbers.length === 0) return states;
    const { rows } = await this.sql.query<{ contact_number: string; fields: unknown }>(
      'select contact_number, fields from synced_state where target = $1 and contact_number = any($2::text[])',
      [input.target, contactNumbers],
    );
    for (const row of rows) states.set(row.contact_number, toFields(row.fields));
    return states;
  }

  /** A contact given twice keeps its last state. */
  async saveSyncedStates(input: {
    target: string;
    states: Array<{ contactNumber: string; fields: Record<string, SyncedFieldValue> }>;
  }): Promise<void> {
    if (input.states.length === 0) return;
    const latest = new Map(input.states.map((state) => [state.contactNumber, state.fields]));
    await this.sql.query(
      `insert into synced_state (target, contact_number, fields, updated_at)
       select $1, state.contact_number, state.fields, now()
         from jsonb_to_recordset($2::jsonb) as state(contact_number text, fields jsonb)
       on conflict (target, contact_number) do update
          set fields = excluded.fields, updated_at = excluded.updated_at`,
      [
        input.target,
        JSON.stringify(
          [...latest].map(([contactNumber, fields]) => ({ contact_number: contactNumber, fields })),
        ),
      ],
    );
  }

  async getCrmLinks(input: { target: string; contactNumbers: string[] }): Promise<Map<string, CrmLink>> {
    const contactNumbers = unique(input.contactNumbers);
    if (contactNumbers.length === 0) return new Map();
    const { rows } = await this.sql.query<{ contact_number: string; entity: string; crm_id: string | null }>(
      'select contact_number, entity, crm_id from crm_link where target = $1 and contact_number = any($2::text[])',
      [input.target, contactNumbers],
    );
    return new Map(
      rows.map((row) => [
        row.contact_number,
        row.crm_id === null ? { entity: row.entity } : { entity: row.entity, crmId: row.crm_id },
      ]),
    );
  }

  /** Links an existing link too (keeping its first sync time); a crmId linked to another contact is refused. */
  async linkCrmRecord(input: {
    target: string;
    contactNumber: string;
    entity: string;
    crmId: string;
  }): Promise<void> {
    await this.sql.query(
      `insert into crm_link (target, contact_number, entity, crm_id, first_synced_at, last_synced_at)
       values ($1, $2, $3, $4, now(), now())
       on conflict (target, contact_number) do update
          set entity = excluded.entity, crm_id = excluded.crm_id, last_synced_at = excluded.last_synced_at`,
      [input.target, input.contactNumber, input.entity, input.crmId],
    );
  }

  async contactNumberOfCrmId(input: { target: string; crmId: string }): Promise<string | undefined> {
    const { rows } = await this.sql.query<{ contact_number: string }>(
      'select contact_number from crm_link where target = $1 and crm_id = $2',
      [input.target, input.crmId],
    );
    return rows[0]?.contact_number;
  }

  async recordConflicts(conflicts: Array<Omit<SyncConflict, 'decidedAt'>>): Promise<void> {
    if (conflicts.length === 0) return;
    await this.sql.query(
      `insert into conflict (target, contact_number, field, base_value, s360_value, crm_value, policy, winner,
                             decided_at)
       select c.target, c.contact_number, c.field, c.base_value, c.s360_value, c.crm_value, c.policy, c.winner, now()
         from jsonb_to_recordset($1::jsonb) as c(target text, contact_number text, field text, base_value jsonb,
                                                 s360_value jsonb, crm_value jsonb, policy text, winner text)`,
      [
        JSON.stringify(
          conflicts.map((conflict) => ({
            target: conflict.target,
            contact_number: conflict.contactNumber,
            field: conflict.field,
            base_value: conflict.baseValue,
            s360_value: conflict.s360Value,
            crm_value: conflict.crmValue,
            policy: conflict.policy,
            winner: conflict.winner,
          })),
        ),
      ],
    );
  }

  async listConflicts(filter: { target?: string; limit?: number } = {}): Promise<SyncConflict[]> {
    const { rows } = await this.sql.query<ConflictRow>(
      // As text: a driver hands a jsonb string back already parsed, indistinguishable from JSON text.
      `select target, contact_number, field, base_value::text as base_value, s360_value::text as s360_value,
              crm_value::text as crm_value, policy, winner, decided_at
         from conflict
        where ($1::text is null or target = $1)
        order by decided_at desc, conflict_id desc
        limit $2`,
      [filter.target ?? null, Math.max(0, Math.floor(filter.limit ?? 100))],
    );
    return rows.map((row) => ({
      target: row.target,
      contactNumber: row.contact_number,
      field: row.field,
      baseValue: jsonText(row.base_value),
      s360Value: jsonText(row.s360_value),
      crmValue: jsonText(row.crm_value),
      policy: row.policy as SyncConflict['policy'],
      winner: row.winner as SyncConflict['winner'],
      decidedAt: toIso(row.decided_at),
    }));
  }

  async getPollCursor(target: string): Promise<string | undefined> {
    const { rows } = await this.sql.query<{ cursor: string }>(
      'select cursor from poll_cursor where target = $1',
      [target],
    );
    return rows[0]?.cursor;
  }

  async savePollCursor(target: string, cursor: string): Promise<void> {
    await this.sql.query(
      `insert into poll_cursor (target, cursor, updated_at) values ($1, $2, now())
       on conflict (target) do update set cursor = excluded.cursor, updated_at = excluded.updated_at`,
      [target, cursor],
    );
  }

  async getSyncedRecords(input: {
    target: string;
    contactNumbers: string[];
  }): Promise<Map<string, SyncedRecord>> {
    const contactNumbers = unique(input.contactNumbers);
    if (contactNumbers.length === 0) return new Map();
    const { rows } = await this.sql.query<{
      contact_number: string;
      entity: string | null;
      crm_id: string | null;
      fields: unknown;
    }>(
      // Two lookups by primary key (`= any`), joined. The planner chooses them only with statistics on the tables'
      // columns: without, it read a target's whole range and filtered (see PlannerStatistics).
      `select coalesce(l.contact_number, s.contact_number) as contact_number, l.entity, l.crm_id, s.fields
         from (select contact_number, entity, crm_id from crm_link
                where target = $1 and contact_number = any($2::text[])) as l
         full join (select contact_number, fields from synced_state
                     where target = $1 and contact_number = any($2::text[])) as s
           on s.contact_number = l.contact_number`,
      [input.target, contactNumbers],
    );
    return new Map(
      rows.map((row) => [
        row.contact_number,
        {
          ...(row.entity !== null
            ? {
                link:
                  row.crm_id === null ? { entity: row.entity } : { entity: row.entity, crmId: row.crm_id },
              }
            : {}),
          ...(row.fields !== null ? { fields: toFields(row.fields) } : {}),
        },
      ]),
    );
  }

  async addImportContacts(input: { listId: string; contactNumbers: string[] }): Promise<number> {
    const listed = await this.sql.transaction(async (tx) => {
      if (input.contactNumbers.length > 0) {
        await tx.query(
          `insert into import_contact (list_id, seq, contact_number)
           select $1, base.last_seq + row_number() over (order by c.ord), c.contact_number
             from unnest($2::text[]) with ordinality as c(contact_number, ord)
            cross join (select coalesce(max(seq), -1) as last_seq from import_contact where list_id = $1) as base
            where not exists (
              select 1 from import_contact existing
               where existing.list_id = $1 and existing.contact_number = c.contact_number)`,
          [input.listId, unique(input.contactNumbers)],
        );
      }
      const { rows } = await tx.query<{ listed: number }>(
        'select count(*)::int as listed from import_contact where list_id = $1',
        [input.listId],
      );
      return Number(rows[0]?.listed ?? 0);
    });
    this.statistics.wrote(input.contactNumbers.length);
    return listed;
  }

  async getImportContacts(input: { listId: string; fromSeq: number; limit: number }): Promise<string[]> {
    const { rows } = await this.sql.query<{ contact_number: string }>(
      // Positions are numbered without gaps: the upper bound keeps this a primary key range read whatever the
      // planner's statistics say (a table's first ones come only once it has grown, see PlannerStatistics).
      `select contact_number from import_contact
        where list_id = $1 and seq >= $2 and seq < $2 + $3 order by seq limit $3`,
      [input.listId, Math.max(0, Math.floor(input.fromSeq)), Math.max(0, Math.floor(input.limit))],
    );
    return rows.map((row) => row.contact_number);
  }

  async forgetImportContacts(listId: string): Promise<void> {
    await this.sql.query('delete from import_contact where list_id = $1', [listId]);
  }

  async claimForImport(input: {
    target: string;
    claimId: string;
    contactNumbers: string[];
  }): Promise<{ claimed: string[]; busy: string[] }> {
    const contactNumbers = unique(input.contactNumbers);
    if (contactNumbers.length === 0) return { claimed: [], busy: [] };
    // One statement: new rows, queued rows taken over, and rows this claim holds already (a retry: their claimed
    // version stays, so that a change made since is not acknowledged with them) come back; rows another claim
    // holds do not.
    const { rows } = await this.sql.query<{ contact_number: string }>(
      `insert into outbox (direction, target, contact_number, version, first_enqueued_at, last_enqueued_at,
                           claim_id, claimed_version, claimed_at)
       select 'outbound', $1, c.contact_number, 0, now(), now(), $2, 0, now()
         from unnest($3::text[]) as c(contact_number)
        order by c.contact_number
       on conflict (direction, target, contact_number) do update
          set claim_id = excluded.claim_id,
              claimed_version = case when outbox.claim_id is null then outbox.version else outbox.claimed_version end,
              claimed_at = case when outbox.claim_id is null then excluded.claimed_at else outbox.claimed_at end
        where outbox.claim_id is null or outbox.claim_id = excluded.claim_id
       returning contact_number`,
      [input.target, input.claimId, contactNumbers],
    );
    this.statistics.wrote(rows.length);
    const held = new Set(rows.map((row) => row.contact_number));
    return {
      claimed: contactNumbers.filter((contactNumber) => held.has(contactNumber)),
      busy: contactNumbers.filter((contactNumber) => !held.has(contactNumber)),
    };
  }

  async releaseImportClaims(input: { target: string; claimIdPrefix: string }): Promise<number> {
    return this.sql.transaction(async (tx) => {
      const params = [input.target, input.claimIdPrefix];
      const { rows } = await tx.query<{ held: number }>(
        `select count(*)::int as held from outbox
          where direction = 'outbound' and target = $1 and starts_with(claim_id, $2)`,
        params,
      );
      await tx.query(
        `delete from outbox
          where direction = 'outbound' and target = $1 and starts_with(claim_id, $2)
            and version = 0 and claimed_version = 0`,
        params,
      );
      await tx.query(
        `update outbox set claim_id = null, claimed_version = null, claimed_at = null
          where direction = 'outbound' and target = $1 and starts_with(claim_id, $2)`,
        params,
      );
      return Number(rows[0]?.held ?? 0);
    });
  }

  /** A row given twice in one call keeps its last version. */
  async parkMassUpdateRows(rows: MassUpdateParkInput[]): Promise<void> {
    if (rows.length === 0) return;
    const latest = new Map(rows.map((row) => [`${row.updateId}\u0000${row.line}`, row]));
    await this.sql.query(
      `insert into mass_update_parked (update_id, line, contact_number, code, reason, row_update, attempts,
                                       first_parked_at, last_parked_at)
       select r.update_id, r.line, r.contact_number, r.code, r.reason, r.row_update, 1, now(), now()
         from jsonb_to_recordset($1::jsonb) as r(update_id text, line integer, contact_number text, code text,
                                                 reason text, row_update jsonb)
       on conflict (update_id, line) do update
          set contact_number = excluded.contact_number, code = excluded.code, reason = excluded.reason,
              row_update = excluded.row_update, attempts = mass_update_parked.attempts + 1,
              last_parked_at = excluded.last_parked_at`,
      [
        JSON.stringify(
          [...latest.values()].map((row) => ({
            update_id: row.updateId,
            line: row.line,
            contact_number: row.contactNumber ?? null,
            code: row.code,
            reason: row.reason,
            row_update: row.update ?? null,
          })),
        ),
      ],
    );
  }

  async addMassUpdateRows(updateId: string, rows: MassUpdateSourceRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.sql.query(
      `insert into mass_update_row (update_id, line, contact_number, row_update, problem)
       select $1, r.line, r.contact_number, r.row_update, r.problem
         from jsonb_to_recordset($2::jsonb) as r(line integer, contact_number text, row_update jsonb, problem text)
       on conflict (update_id, line) do nothing`,
      [
        updateId,
        JSON.stringify(
          rows.map((row) => ({
            line: row.line,
            contact_number: row.contactNumber ?? null,
            row_update: 'update' in row ? row.update : null,
            problem: 'problem' in row ? row.problem : null,
          })),
        ),
      ],
    );
  }

  async listMassUpdateRows(input: {
    updateId: string;
    fromLine: number;
    limit: number;
  }): Promise<MassUpdateSourceRow[]> {
    const { rows } = await this.sql.query<{
      line: number;
      contact_number: string | null;
      row_update: unknown;
      problem: string | null;
    }>(
      `select line, contact_number, row_update, problem from mass_update_row
        where update_id = $1 and line >= $2 order by line limit $3`,
      [input.updateId, Math.max(0, Math.floor(input.fromLine)), Math.max(0, Math.floor(input.limit))],
    );
    return rows.map((row) => ({
      line: Number(row.line),
      ...(row.contact_number !== null ? { contactNumber: row.contact_number } : {}),
      ...(row.problem !== null
        ? { problem: row.problem }
        : { update: fromJson(row.row_update) as S360ContactUpdate }),
    }));
  }

  async countMassUpdateRows(updateId: string): Promise<number> {
    const { rows } = await this.sql.query<{ rows: number }>(
      'select count(*)::int as rows from mass_update_row where update_id = $1',
      [updateId],
    );
    return Number(rows[0]?.rows ?? 0);
  }

  async listMassUpdateParked(input: {
    updateId: string;
    fromLine?: number;
    limit?: number;
    retryableOnly?: boolean;
  }): Promise<MassUpdateParkedRow[]> {
    const { rows } = await this.sql.query<MassUpdateParkedDbRow>(
      `select update_id, line, contact_number, code, reason, row_update, attempts, first_parked_at, last_parked_at
         from mass_update_parked
        where update_id = $1 and line >= $2 and ($3::boolean is not true or row_update is not null)
        order by line
        limit $4`,
      [
        input.updateId,
        Math.floor(input.fromLine ?? 0),
        input.retryableOnly ?? false,
        input.limit === undefined ? null : Math.max(0, Math.floor(input.limit)),
      ],
    );
    return rows.map((row) => {
      const update = fromJson(row.row_update);
      return {
        updateId: row.update_id,
        line: Number(row.line),
        ...(row.contact_number !== null ? { contactNumber: row.contact_number } : {}),
        code: row.code,
        reason: row.reason,
        ...(update !== null && typeof update === 'object'
          ? { update: update as MassUpdateParkedRow['update'] }
          : {}),
        attempts: Number(row.attempts),
        firstParkedAt: toIso(row.first_parked_at),
        lastParkedAt: toIso(row.last_parked_at),
      };
    });
  }

  async countMassUpdateParked(updateId: string): Promise<{ parked: number; retryable: number }> {
    const { rows } = await this.sql.query<{ parked: number | string; retryable: number | string }>(
      `select count(*)::int as parked, count(row_update)::int as retryable
         from mass_update_parked where update_id = $1`,
      [updateId],
    );
    return { parked: Number(rows[0]?.parked ?? 0), retryable: Number(rows[0]?.retryable ?? 0) };
  }

  async unparkMassUpdateRows(input: { updateId: string; lines: number[] }): Promise<number> {
    if (input.lines.length === 0) return 0;
    const { rows } = await this.sql.query<{ line: number }>(
      'delete from mass_update_parked where update_id = $1 and line = any($2::integer[]) returning line',
      [input.updateId, [...new Set(input.lines)]],
    );
    return rows.length;
  }

  async counts(key: OutboxKey): Promise<OutboxCounts> {
    const { rows } = await this.sql.query<{
      pending: number | string;
      claimed: number | string;
      parked: number | string;
    }>(
      `select
         (select count(*) from outbox where direction = $1 and target = $2 and claim_id is null)::int as pending,
         (select count(*) from outbox where direction = $1 and target = $2 and claim_id is not null)::int as claimed,
         (select count(*) from parked where direction = $1 and target = $2)::int as parked`,
      [key.direction, key.target],
    );
    const row = rows[0];
    return {
      pending: Number(row?.pending ?? 0),
      claimed: Number(row?.claimed ?? 0),
      parked: Number(row?.parked ?? 0),
    };
  }
}

/** Inserts new rows; a row already there (pending or claimed) keeps its place and gets its version raised. */
async function enqueueRows(
  sql: SqlQueryable,
  direction: SyncDirection,
  targets: string[],
  contactNumbers: string[],
): Promise<void> {
  if (targets.length === 0 || contactNumbers.length === 0) return;
  await sql.query(
    `insert into outbox (direction, target, contact_number, version, first_enqueued_at, last_enqueued_at)
     select $1, t.target, c.contact_number, 1, now(), now()
       from unnest($2::text[]) as t(target) cross join unnest($3::text[]) as c(contact_number)
      order by t.target, c.contact_number
     on conflict (direction, target, contact_number) do update
        set version = outbox.version + 1, last_enqueued_at = excluded.last_enqueued_at`,
    [direction, targets, contactNumbers],
  );
}

/** The rows a claim holds, oldest first, with the version seen when they were claimed. */
async function heldBy(sql: SqlQueryable, key: OutboxKey, claimId: string): Promise<ClaimedEntry[]> {
  const { rows } = await sql.query<{
    contact_number: string;
    claimed_version: number;
    first_enqueued_at: Date | string;
  }>(
    `select contact_number, claimed_version, first_enqueued_at from outbox
      where direction = $1 and target = $2 and claim_id = $3
      order by first_enqueued_at, enqueue_seq`,
    [key.direction, key.target, claimId],
  );
  return rows.map((row) => ({
    contactNumber: row.contact_number,
    version: Number(row.claimed_version),
    firstEnqueuedAt: toIso(row.first_enqueued_at),
  }));
}

/**
 * Ends a claim on some rows: those unchanged since the claim leave the outbox, those changed since are released
 * (still queued for the next run). Rows not held by this claim are left alone.
 */
async function finishClaimed(
  sql: SqlQueryable,
  key: OutboxKey,
  claimId: string,
  contactNumbers: string[],
): Promise<void> {
  const params = [key.direction, key.target, claimId, contactNumbers];
  await sql.query(
    `delete from outbox
      where direction = $1 and target = $2 and claim_id = $3 and contact_number = any($4::text[])
        and version = claimed_version`,
    params,
  );
  await sql.query(
    `update outbox set claim_id = null, claimed_version = null, claimed_at = null
      where direction = $1 and target = $2 and claim_id = $3 and contact_number = any($4::text[])`,
    params,
  );
}

function toParkedRecord(row: ParkedRow): ParkedRecord {
  return {
    direction: row.direction,
    target: row.target,
    contactNumber: row.contact_number,
    code: row.code,
    reason: row.reason,
    ...(row.field !== null ? { field: row.field } : {}),
    attempts: Number(row.attempts),
    firstParkedAt: toIso(row.first_parked_at),
    lastParkedAt: toIso(row.last_parked_at),
  };
}

/** A stored fields object (jsonb), parsed if the driver gave text; anything else reads as no fields. */
function toFields(value: unknown): Record<string, SyncedFieldValue> {
  const fields = fromJson(value);
  return typeof fields === 'object' && fields !== null && !Array.isArray(fields)
    ? (fields as Record<string, SyncedFieldValue>)
    : {};
}

/** Drivers return `timestamptz` as a Date (pg, PGlite) or as text (custom type parsers): always ISO out. */
function toIso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
