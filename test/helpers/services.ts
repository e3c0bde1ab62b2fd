import net from 'node:net';

/**
 * The real services tests run against (DEVELOPERS.md). A test file that needs one asks here:
 * when the service is down, CI (`CI=true`) fails loudly; a developer machine skips the file with
 * a visible message.
 */
export const SERVICES = {
  mysql: {
    host: process.env.TEST_MYSQL_HOST ?? '127.0.0.1',
    port: Number(process.env.TEST_MYSQL_PORT ?? 3306),
    user: 'root',
    password: '',
  },
  postgres: {
    host: process.env.TEST_PG_HOST ?? '127.0.0.1',
    port: Number(process.env.TEST_PG_PORT ?? 5432),
    user: 'postgres',
    database: 'test',
  },
  redis: {
    host: process.env.TEST_REDIS_HOST ?? '127.0.0.1',
    port: Number(process.env.TEST_REDIS_PORT ?? 6379),
  },
} as const;

export type ServiceName = keyof typeof SERVICES;

const cache = new Map<ServiceName, Promise<boolean>>();

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when the service is up. In CI a missing service throws, so the run fails. */
export async function hasService(name: ServiceName): Promise<boolean> {
  let check = cache.get(name);
  if (!check) {
    const { host, port } = SERVICES[name];
    check = reachable(host, port);
    cache.set(name, check);
  }
  const ok = await check;
  if (!ok) {
    const { host, port } = SERVICES[name];
    const message = `${name} is not reachable at ${host}:${port}`;
    if (process.env.CI === 'true') throw new Error(`${message} — CI requires it (see .ci/run)`);
    console.warn(`\n⚠ SKIPPED: ${message}; tests that need it are skipped on this machine\n`);
  }
  return ok;
}
