import { lookup } from 'node:dns/promises';
import { BlockList, connect, isIP } from 'node:net';
import { FreightError } from '../domain/errors.js';

/**
 * Which hosts jobs (and webhooks) may connect to, decided on the addresses a name resolves to —
 * so `db.example.com → 169.254.169.254` is caught — and the connection is then made to the checked
 * address, so a second DNS answer cannot swap it (DNS rebinding).
 *
 * `deny`: CIDRs or keywords — `loopback`, `link-local`, `private`, `metadata`, `unspecified`. An
 * address is checked as everything a connection to it reaches: `::ffff:127.0.0.1` (and the other
 * IPv6 spellings of an IPv4 address) as 127.0.0.1 too, and 0.0.0.0/8 or `::` as the local host.
 * `allow`: when set, only these CIDRs or host names are allowed. Deny wins over allow.
 */
export interface NetworkPolicyConfig {
  readonly deny: readonly string[];
  readonly allow: readonly string[];
}

const KEYWORDS: Record<string, Array<[string, number, 'ipv4' | 'ipv6']>> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  'link-local': [
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
  ],
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['100.64.0.0', 10, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
  metadata: [
    ['169.254.169.254', 32, 'ipv4'],
    ['169.254.170.2', 32, 'ipv4'],
    ['fd00:ec2::254', 128, 'ipv6'],
    ['100.100.100.200', 32, 'ipv4'],
  ],
  unspecified: [
    ['0.0.0.0', 8, 'ipv4'],
    ['::', 128, 'ipv6'],
  ],
};

export class NetworkPolicy {
  private readonly deny = new BlockList();
  private readonly allow = new BlockList();
  private readonly allowNames: Set<string>;
  private readonly hasAllow: boolean;
  readonly active: boolean;

  constructor(readonly config: NetworkPolicyConfig) {
    for (const rule of config.deny) add(this.deny, rule, 'FREIGHT_DENY_NETWORKS');
    this.allowNames = new Set();
    for (const rule of config.allow) {
      if (/[a-z]/i.test(rule) && !rule.includes(':') && !rule.includes('/') && !KEYWORDS[rule])
        this.allowNames.add(rule.toLowerCase());
      else add(this.allow, rule, 'FREIGHT_ALLOW_NETWORKS');
    }
    this.hasAllow = config.allow.length > 0;
    this.active = config.deny.length > 0 || this.hasAllow;
  }

  /**
   * Resolves `host` and checks every address it resolves to; returns them (in the resolver's
   * order) for the caller to connect to one of them. Throws POLICY_VIOLATION naming the rule (and
   * never the password) when the policy refuses any of them. Without rules: `[host]`, unresolved.
   */
  async check(host: string, what: string): Promise<string[]> {
    if (!this.active) return [host];
    const literal = host.replace(/^\[|\]$/g, '');
    const addresses = isIP(literal)
      ? [{ address: literal, family: isIP(literal) }]
      : await lookupAll(host, what);
    for (const { address, family } of addresses) {
      const type = family === 6 ? 'ipv6' : 'ipv4';
      const embedded = type === 'ipv6' ? embeddedIpv4(address) : null;
      // Every address the connection may really reach is checked: the address, the IPv4 address
      // inside an IPv6 form of it, and the local host for the "this host" addresses.
      const reaches: Array<[string, 'ipv4' | 'ipv6']> = [
        [address, type],
        ...(embedded ? [[embedded, 'ipv4'] as [string, 'ipv4']] : []),
      ];
      for (const [a, t] of [...reaches])
        if (isThisHost(a, t)) reaches.push(t === 'ipv4' ? ['127.0.0.1', 'ipv4'] : ['::1', 'ipv6']);
      if (reaches.some(([a, t]) => this.deny.check(a, t)))
        throw refusal(
          what,
          host,
          address,
          'the address is in a denied network (FREIGHT_DENY_NETWORKS)',
        );
      if (
        this.hasAllow &&
        !this.allowNames.has(host.toLowerCase()) &&
        !this.allow.check(address, type) &&
        !(embedded && this.allow.check(embedded, 'ipv4'))
      ) {
        throw refusal(
          what,
          host,
          address,
          'the address is not in an allowed network (FREIGHT_ALLOW_NETWORKS)',
        );
      }
    }
    return addresses.map((a) => a.address);
  }

  /**
   * The checked address to connect to for `host:port`: the first of its addresses that accepts a
   * TCP connection (as the drivers' own "happy eyeballs" would pick — `localhost` may be ::1 and
   * 127.0.0.1, with the database listening on one), or the first when none answers (the driver then
   * reports the connection error). The caller connects to this address, so a second DNS answer
   * cannot swap it (DNS rebinding).
   */
  async resolve(host: string, port: number, what: string): Promise<string> {
    const addresses = await this.check(host, what);
    if (addresses.length === 1) return addresses[0]!;
    for (const address of addresses) {
      if (await reachable(address, port)) return address;
    }
    return addresses[0]!;
  }
}

/**
 * The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`) or
 * IPv4-translated (`::ffff:0:a.b.c.d`) IPv6 address, in any spelling; null for other addresses.
 */
export function embeddedIpv4(address: string): string | null {
  const groups = ipv6Groups(address);
  if (!groups) return null;
  if (groups.slice(0, 4).some((g) => g !== 0)) return null;
  const [g4, g5] = [groups[4]!, groups[5]!];
  const mapped = g4 === 0 && g5 === 0xffff;
  const translated = g4 === 0xffff && g5 === 0;
  const compatible = g4 === 0 && g5 === 0 && (groups[6]! !== 0 || groups[7]! > 1); // not :: or ::1
  if (!mapped && !translated && !compatible) return null;
  return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
}

/** The eight 16-bit groups of an IPv6 address (a zone id is ignored); null when it is not one. */
function ipv6Groups(address: string): number[] | null {
  let text = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (isIP(text) !== 6) return null;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (part: string | undefined) =>
    part ? part.split(':').map((g) => parseInt(g, 16)) : [];
  const left = parse(head);
  const right = parse(tail);
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : null;
}

/** 0.0.0.0/8 and `::` name "this host": connecting to them reaches the local host (Linux). */
function isThisHost(address: string, type: 'ipv4' | 'ipv6'): boolean {
  if (type === 'ipv4') return address.split('.')[0] === '0';
  const groups = ipv6Groups(address);
  return groups !== null && groups.every((g) => g === 0);
}

function reachable(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: 2_000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

async function lookupAll(
  host: string,
  what: string,
): Promise<Array<{ address: string; family: number }>> {
  try {
    return await lookup(host, { all: true, verbatim: true });
  } catch {
    throw new FreightError('CONNECTION_FAILED', `${what}: cannot resolve host ${host}`, {
      details: { field: what },
    });
  }
}

function refusal(what: string, host: string, address: string, rule: string): FreightError {
  return new FreightError(
    'POLICY_VIOLATION',
    `${what}: connecting to ${host}${host === address ? '' : ` (${address})`} is not allowed on this server: ${rule}`,
    {
      details: { field: what, rule },
    },
  );
}

function add(list: BlockList, rule: string, variable: string): void {
  const keyword = KEYWORDS[rule.trim().toLowerCase()];
  if (keyword) {
    for (const [net, prefix, type] of keyword) list.addSubnet(net, prefix, type);
    return;
  }
  const [net, prefix] = rule.trim().split('/');
  const type = isIP(net ?? '');
  if (!type)
    throw new FreightError(
      'CONFIG_INVALID',
      `environment variable ${variable}: "${rule}" is not a CIDR, an address or a keyword (${Object.keys(KEYWORDS).join(', ')})`,
    );
  const bits = prefix === undefined ? (type === 6 ? 128 : 32) : Number(prefix);
  list.addSubnet(net!, bits, type === 6 ? 'ipv6' : 'ipv4');
}
