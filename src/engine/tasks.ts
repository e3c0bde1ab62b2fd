/**
 * The units of work a queue carries (DESIGN.md §1: queue/ and worker/). A job is driven by
 * them, in any process that shares the metadata store:
 *
 *     plan ──► work ×concurrency ──► work … (one batch per step, each step schedules the next)
 *                                  └──► finalize (scheduled by the step that finds nothing left)
 *
 * `work` is a chain: a job runs `concurrency` chains, so at most that many of its batches run at
 * once, whichever workers they land on. Every step re-reads the job's state from the store and is
 * safe to run twice (duplicate delivery, a crashed worker's task redelivered).
 */
export type Task =
  | { readonly kind: 'plan'; readonly jobId: string }
  | { readonly kind: 'work'; readonly jobId: string }
  | { readonly kind: 'finalize'; readonly jobId: string };
