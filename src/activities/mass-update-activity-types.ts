/**
 * The contract between the `massUpdate` workflow and its activities. Inputs and results carry a file position and
 * counts only: the rows themselves are read from the file (or the store) by the activity.
 */

/**
 * Where a mass update's rows come from: an update file, the records a CRM query selects, or the parked rows of an
 * earlier mass update. Exactly one is given.
 */
export interface MassUpdateSource {
  /** The update file, as the worker reads it (an absolute path). */
  file?: string;
  /** The records the query selects in the CRM target, each mapped back to an S-360 update. */
  crmQuery?: MassUpdateCrmQuery;
  /** Re-applies the parked rows (those with an update) of this mass update instead of reading a file. */
  retryOf?: string;
}

/** A CRM query as a mass update's source: in the target's own query language. */
export interface MassUpdateCrmQuery {
  target: string;
  query: string;
}

/**
 * The progress of taking a CRM query's records, heartbeated after each page: a retried attempt goes on from the
 * page after the last one kept.
 */
export interface CrmQuerySnapshotProgress {
  /** The cursor of the next page; absent for the first page. */
  after?: string;
  /** Rows kept so far (the last line given). */
  line: number;
  /** Every page is kept. */
  done: boolean;
}

export interface CheckMassUpdateSourceInput extends MassUpdateSource {
  updateId: string;
}

export interface CheckMassUpdateSourceResult {
  /** The data rows to go through (good or bad): the file's rows, the query's records, or the parked rows to retry. */
  totalRows: number;
}

export interface ApplyMassUpdateChunkInput extends MassUpdateSource {
  updateId: string;
  /**
   * The first line of the chunk (2 is the first data line of a file, 1 the first record of a CRM query); for a
   * retry, the first parked line to take.
   */
  fromLine: number;
  /** The most rows (good or bad) the chunk reads. */
  maxRows: number;
  /** The rate in force, in S-360 calls per minute. */
  perMinute: number;
  /**
   * Epoch ms until which `perMinute` is a raised rate (S-360 raised its limit for a while): the process-wide
   * S-360 budget allows it until then. Null when the rate is not raised.
   */
  raisedUntilMs?: number | null;
}

export interface ApplyMassUpdateChunkResult {
  /** Rows read (good and bad). */
  rows: number;
  /** Rows S-360 accepted. */
  applied: number;
  /** Rows parked with their line and reason (could not be read, unknown contact, refused value). */
  parked: number;
  /** S-360 calls made: what the pacing counts. */
  calls: number;
  /** Where the next chunk starts; null once every row has been read. */
  nextLine: number | null;
}

/** The progress of a chunk, heartbeated after each row: a retried attempt goes on from there. */
export interface MassUpdateChunkProgress {
  fromLine: number;
  /** Rows of the chunk's good rows done, in order (every row before this index is done). */
  done: number;
  applied: number;
  parked: number;
  calls: number;
}

/** The mass update activities as the workflow sees them. */
export interface MassUpdateActivities {
  /**
   * Checks the source (a malformed file fails with a non-retryable `InvalidUpdateFile` saying why) and counts its
   * rows, reading the file once with constant memory. A CRM query is run here, once: its records, mapped to S-360
   * updates, are kept in the store, so that the mass update goes through the records as they were at its start.
   */
  checkMassUpdateSource(input: CheckMassUpdateSourceInput): Promise<CheckMassUpdateSourceResult>;
  /**
   * Reads one chunk of rows and applies each with `saveIndividualContactData` (after `getContactData` for a row that
   * names opt-ins or criteria, so that the contact's others are kept), parking the bad ones.
   */
  applyMassUpdateChunk(input: ApplyMassUpdateChunkInput): Promise<ApplyMassUpdateChunkResult>;
}
