import type { SqlClient } from './sql-client';

/** One schema step. Its `version` is its identity: never renumber or edit a released migration, add a new one. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The store's schema, in order. Plain PostgreSQL: the same script runs on PGlite and on a PostgreSQL server.
 * `version` counters are `integer` (not `bigint`) so that both drivers return them as JavaScript numbers.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox, parked records and staged pushes',
    sql: `
      create table outbox (
        direction text not null check (direction in ('outbound', 'inbound')),
        target text not null,
        contact_number text not null,
        -- Raised by every change: an ack under an older claimed_version leaves the row queued.
        version integer not null default 1,
        first_enqueued_at timestamptz not null,
        -- Arrival order among rows of the same first_enqueued_at (PGlite's clock has millisecond resolution).
        enqueue_seq bigint generated always as identity,
        last_enqueued_at timestamptz not null,
        claim_id text,
        claimed_version integer,
        claimed_at timestamptz,
        primary key (direction, target, contact_number)
      );
      create index outbox_oldest_idx on outbox (direction, target, first_enqueued_at, enqueue_seq);
      create index outbox_claim_idx on outbox (direction, target, claim_id);

      -- Orders parked records parked within the same millisecond (PGlite's clock resolution).
      create sequence parked_seq;
      create table parked (
        direction text not null check (direction in ('outbound', 'inbound')),
        target text not null,
        contact_number text not null,
        code text not null,
        reason text not null,
        field text,
        attempts integer not null default 1,
        first_parked_at timestamptz not null,
        last_parked_at timestamptz not null,
        park_seq bigint not null default nextval('parked_seq'),
        primary key (direction, target, contact_number)
      );
      create index parked_recent_idx on parked (last_parked_at desc, park_seq desc);

      create table staged_push (
        push_id text primary key,
        target text not null,
        contact_numbers jsonb not null,
        body text not null,
        created_at timestamptz not null,
        delivered_at timestamptz
      );
    `,
  },
  {
    version: 2,
    name: 'CRM links and relays held back for their account',
    sql: `
      -- The contacts a CRM target holds, as far as crm-sync knows: it acknowledged a push of them.
      create table crm_link (
        target text not null,
        contact_number text not null,
        entity text not null,
        first_synced_at timestamptz not null,
        last_synced_at timestamptz not null,
        primary key (target, contact_number)
      );
      -- Relays a prepared push held back because their structure's account is not in the CRM yet.
      alter table staged_push add column held_relays jsonb not null default '[]'::jsonb;
    `,
  },
  {
    version: 3,
    name: 'inbound changes and synced states',
    sql: `
      -- The latest change a CRM reported per record, waiting for the inbound sync.
      create table inbound_change (
        target text not null,
        contact_number text not null,
        kind text not null check (kind in ('changed', 'deleted')),
        entity text check (entity in ('person', 'account', 'relay')),
        fields jsonb not null default '{}'::jsonb,
        changed_at timestamptz not null,
        received_at timestamptz not null,
        primary key (target, contact_number)
      );
      -- The last state crm-sync synced per record, in CRM field names: a change equal to it is an echo.
      create table synced_state (
        target text not null,
        contact_number text not null,
        fields jsonb not null,
        updated_at timestamptz not null,
        primary key (target, contact_number)
      );
    `,
  },
  {
    version: 4,
    name: 'conflicts and CRM polling cursors',
    sql: `
      -- A field both sides changed since the last sync, with both values and the decision.
      create table conflict (
        conflict_id bigint generated always as identity primary key,
        target text not null,
        contact_number text not null,
        field text not null,
        base_value jsonb,
        s360_value jsonb,
        crm_value jsonb,
        policy text not null,
        winner text not null check (winner in ('s360', 'crm')),
        decided_at timestamptz not null
      );
      create index conflict_recent_idx on conflict (decided_at desc, conflict_id desc);
      -- Where the polling of a CRM's change list stopped, per target.
      create table poll_cursor (
        target text primary key,
        cursor text not null,
        updated_at timestamptz not null
      );
    `,
  },
  {
    version: 5,
    name: 'CRM record IDs of records created in the CRM',
    sql: `
      -- The CRM's own ID of the record a change came from; records new in the CRM are keyed 'crm:<crm_id>'.
      alter table inbound_change add column crm_id text;
      -- The CRM record a contact created from the CRM is linked to.
      alter table crm_link add column crm_id text;
      create unique index crm_link_crm_id_idx on crm_link (target, crm_id) where crm_id is not null;
    `,
  },
  {
    version: 6,
    name: 'contacts listed by initial imports',
    sql: `
      -- The contacts an initial import listed from S-360, numbered in the order it imports them: its pages are
      -- ranges of seq, the same on every retry whatever changes in S-360 meanwhile.
      create table import_contact (
        list_id text not null,
        seq integer not null,
        contact_number text not null,
        primary key (list_id, seq)
      );
      create unique index import_contact_number_idx on import_contact (list_id, contact_number);
    `,
  },
  // Version 6 belongs to the initial import; versions are applied one by one, whichever are missing.
  {
    version: 7,
    name: 'rows of mass updates parked with their line and reason',
    sql: `
      -- A row of a mass update that could not be applied: its line in the update file, the contact (when the row
      -- names a valid one), why, and the update it asks for (null when the row could not be read).
      create table mass_update_parked (
        update_id text not null,
        line integer not null,
        contact_number text,
        code text not null,
        reason text not null,
        row_update jsonb,
        attempts integer not null default 1,
        first_parked_at timestamptz not null,
        last_parked_at timestamptz not null,
        primary key (update_id, line)
      );
    `,
  },
  {
    version: 8,
    name: 'rows of mass updates taken from a CRM query',
    sql: `
      -- The records a CRM query selected for a mass update, as they were when it started: the row's position in the
      -- query's results (from 1), the contact, and the update it asks for, or why it cannot be applied.
      create table mass_update_row (
        update_id text not null,
        line integer not null,
        contact_number text,
        row_update jsonb,
        problem text,
        primary key (update_id, line),
        check ((row_update is null) <> (problem is null))
      );
    `,
  },
];

/** Any constant shared by every crm-sync process: serialises concurrent migrators on one PostgreSQL database. */
const MIGRATION_LOCK_KEY = 74_201_360;

/**
 * Applies the migrations not yet recorded in `schema_migrations`, each in its own transaction together with its
 * record, so a crash leaves the schema at a known version. Each version is checked on its own: a version missing
 * from the list (a gap) is no obstacle, and one added later is applied on the next start. Idempotent; safe when several processes start at once
 * on PostgreSQL (an advisory lock makes them take turns). Returns the versions applied by this call.
 */
export async function runMigrations(
  client: SqlClient,
  steps: readonly Migration[] = migrations,
): Promise<number[]> {
  const applied: number[] = [];
  for (const step of steps) {
    const done = await client.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await tx.exec(`
        create table if not exists schema_migrations (
          version integer primary key,
          name text not null,
          applied_at timestamptz not null default now()
        )
      `);
      const { rows } = await tx.query<{ version: number }>(
        'select version from schema_migrations where version = $1',
        [step.version],
      );
      if (rows.length > 0) return false;
      await tx.exec(step.sql);
      await tx.query('insert into schema_migrations (version, name) values ($1, $2)', [
        step.version,
        step.name,
      ]);
      return true;
    });
    if (done) applied.push(step.version);
  }
  return applied;
}
