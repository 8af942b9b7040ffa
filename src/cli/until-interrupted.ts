/**
 * Resolves on the first SIGINT or SIGTERM, or when `finished` settles (a fatal error rejects). Signal handlers
 * are removed afterwards so a second Ctrl-C during shutdown falls through to Node's default (exit).
 */
export async function untilInterrupted(finished?: Promise<unknown>): Promise<void> {
  let onSignal: (() => void) | undefined;
  const interrupted = new Promise<void>((resolve) => {
    onSignal = () => resolve();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  try {
    await Promise.race([interrupted, ...(finished ? [finished.then(() => undefined)] : [])]);
  } finally {
    if (onSignal) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
