import type { Config } from '../config/config.js';
import type { ExportLinks } from '../auth/export-links.js';
import type { KeyService } from '../auth/key-service.js';
import type { TokenService } from '../auth/tokens.js';
import type { Connectors } from '../engine/ports.js';
import type { EventBus } from '../events/event-bus.js';
import type { ConnectionGuard } from '../security/connection-guard.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { MetadataStore } from '../store/store.js';

/** Everything an operation handler may use. Built once per process (http/ and mcp/ share it). */
export interface Services {
  readonly config: Config;
  readonly store: MetadataStore;
  readonly queue: JobQueue;
  readonly keys: KeyService;
  readonly tokens: TokenService;
  readonly exports: ExportLinks;
  readonly connectors: Connectors;
  /** What jobs may connect to: data directories for file connectors, the network policy for hosts. */
  readonly guard: ConnectionGuard;
  /** Job events from workers anywhere (SSE, metrics, webhooks). */
  readonly events: EventBus;
}
