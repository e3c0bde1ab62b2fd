import { describe, expect, it } from 'vitest';
import {
  describeConnection,
  parseConnectionConfig,
  parseConnectionUrl,
  redactConnection,
} from '../../src/domain/connection.js';

describe('connection URLs and configs', () => {
  it('parses every supported scheme', () => {
    expect(parseConnectionUrl('mysql://user:p%40ss@db:3307/shop')).toEqual({
      type: 'mysql',
      host: 'db',
      port: 3307,
      database: 'shop',
      user: 'user',
      password: 'p@ss',
    });
    expect(parseConnectionUrl('mariadb://db/shop')).toMatchObject({
      type: 'mariadb',
      port: 3306,
      user: 'root',
    });
    expect(parseConnectionUrl('postgres://u@[::1]/x?schema=app&sslmode=require')).toMatchObject({
      type: 'postgresql',
      host: '::1',
      port: 5432,
      schema: 'app',
      ssl: 'require',
    });
    expect(parseConnectionUrl('sqlite:./data/app.db')).toEqual({
      type: 'sqlite',
      path: './data/app.db',
    });
    expect(parseConnectionUrl('csv:/tmp/in')).toEqual({ type: 'csv', path: '/tmp/in' });
  });

  it('rejects bad input with the field named and no password echoed', () => {
    expect(() => parseConnectionUrl('oracle://x/y')).toThrow(/unsupported scheme "oracle:"/);
    expect(() => parseConnectionUrl('not a url')).toThrow(/not a connection URL/);
    expect(() =>
      parseConnectionConfig({
        type: 'mysql',
        host: 'h',
        database: 'd',
        user: 'u',
        password: 'hunter2',
        port: 99999,
      }),
    ).toThrow(/port/);
    try {
      parseConnectionConfig({
        type: 'mysql',
        host: '',
        database: 'd',
        user: 'u',
        password: 'hunter2',
      });
    } catch (e) {
      expect((e as Error).message).toMatch(/host/);
      expect((e as Error).message).not.toContain('hunter2');
    }
    expect(() =>
      parseConnectionConfig({ type: 'postgresql', host: 'h', database: 'd', user: 'u', extra: 1 }),
    ).toThrow(/extra|Unrecognized/);
  });

  it('describes and redacts without the password', () => {
    const c = parseConnectionUrl('postgresql://app:topsecret@pg:5432/db?schema=s');
    expect(describeConnection(c)).toBe('postgresql://app@pg:5432/db?schema=s');
    expect(JSON.stringify(redactConnection(c))).not.toContain('topsecret');
  });
});
