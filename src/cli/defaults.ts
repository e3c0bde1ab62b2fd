/**
 * Rows per batch when `freight migrate --batch-size` is not given. Larger than the API's 1,000
 * (DESIGN.md §3): a bulk copy from the command line pays per-batch costs (a transaction, a ledger
 * update) a thousand times per million rows at 1,000 — measured ~20% of the throughput of the
 * 1M-row benchmark. pgloader uses 25,000 rows per batch; AWS DMS commits every 10,000.
 */
export const CLI_BATCH_SIZE = 10_000;
