/**
 * The contract between the `massUpdate` workflow and its activities. Inputs and results carry a file position and
 * counts only: the rows themselves are read from the file (or the store) by the activity.
 */

/** Where a mass update's rows come from: an update file, or the parked rows of an earlier mass update. */
export interface MassUpdateSource {
  /** The update file, as the worker reads it (an absolute path). */
  file?: string;
  /** Re-applies the parked rows (those with an update) of this mass update instead of reading a file. */
  retryOf?: string;
}

export interface CheckMassUpdateSourceInput extends MassUpdateSource {
  updateId: string;
}

export interface CheckMassUpdateSourceResult {
  /** The data rows to go through (good or bad): the file's rows, or the parked rows to retry. */
  totalRows: number;
}

export interface ApplyMassUpdateChunkInput extends MassUpdateSource {
  updateId: string;
  /** The first line of the chunk (2 is the first data line); for a retry, the first parked line to take. */
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
   * rows, reading the file once with constant memory.
   */
  checkMassUpdateSource(input: CheckMassUpdateSourceInput): Promise<CheckMassUpdateSourceResult>;
  /**
   * Reads one chunk of rows and applies each with `saveIndividualContactData` (after `getContactData` for a row that
   * names opt-ins or criteria, so that the contact's others are kept), parking the bad ones.
   */
  applyMassUpdateChunk(input: ApplyMassUpdateChunkInput): Promise<ApplyMassUpdateChunkResult>;
}
