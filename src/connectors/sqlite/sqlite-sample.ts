import Database from 'better-sqlite3';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * Generates the demo database: a small shop in SQLite with the shapes a migration meets in real
 * life — an AUTOINCREMENT key, a text key, a composite key, a table without a key, foreign keys,
 * decimals, JSON, booleans, timestamps, NULLs, and text with tabs, newlines, backslashes and emoji.
 * Deterministic: the same `scale` always gives the same rows.
 */
export function createSampleDatabase(file: string, scale = 1): { tables: Record<string, number> } {
  mkdirSync(path.dirname(file), { recursive: true });
  rmSync(file, { force: true });
  rmSync(`${file}-wal`, { force: true });
  rmSync(`${file}-shm`, { force: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE customers (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      email VARCHAR(255) NOT NULL UNIQUE,
      name VARCHAR(100) NOT NULL,
      country CHAR(2),
      is_vip BOOLEAN NOT NULL DEFAULT 0,
      created_at DATETIME NOT NULL
    );
    CREATE TABLE products (
      sku VARCHAR(32) PRIMARY KEY,
      title TEXT NOT NULL,
      price NUMERIC(10,2) NOT NULL,
      stock INTEGER NOT NULL,
      attributes JSON
    ) WITHOUT ROWID;
    CREATE TABLE orders (
      id INTEGER PRIMARY KEY,
      customer_id INTEGER NOT NULL REFERENCES customers(id),
      placed_at DATETIME NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('new', 'paid', 'shipped', 'cancelled')),
      total NUMERIC(12,2) NOT NULL,
      note TEXT
    );
    CREATE INDEX orders_customer ON orders (customer_id);
    CREATE TABLE order_items (
      order_id INTEGER NOT NULL REFERENCES orders(id),
      line INTEGER NOT NULL,
      sku VARCHAR(32) NOT NULL REFERENCES products(sku),
      quantity INTEGER NOT NULL,
      unit_price NUMERIC(10,2) NOT NULL,
      PRIMARY KEY (order_id, line)
    ) WITHOUT ROWID;
    CREATE TABLE audit_log (
      at DATETIME NOT NULL,
      actor TEXT,
      message TEXT NOT NULL
    );
  `);
  const names = [
    'Ana',
    'Björk',
    'Chloé',
    'Dvořák',
    'Émile',
    'François',
    'Łukasz',
    'María',
    'Nuño',
    'Søren',
    '李',
    '佐藤',
    'Анна',
    "O'Brien",
    'Zoë 🚀',
  ];
  const countries = ['DE', 'FR', 'ES', 'PL', 'JP', 'BR', 'US', null];
  const notes = [
    null,
    'leave at the door',
    'gift wrap\tplease',
    'line one\nline two',
    'C:\\orders\\new',
    '\\N is not null',
    '🎁 birthday',
    'quote "this"',
  ];
  const statuses = ['new', 'paid', 'shipped', 'cancelled'];
  const n = (base: number) => Math.max(1, Math.round(base * scale));
  const counts = {
    customers: n(20_000),
    products: n(1_000),
    orders: n(60_000),
    audit_log: n(5_000),
  };
  const date = (n: number) =>
    new Date(Date.UTC(2020, 0, 1) + (n % 157_680_000) * 1000)
      .toISOString()
      .replace('T', ' ')
      .slice(0, 19);
  let items = 0;
  db.transaction(() => {
    const c = db.prepare(
      'INSERT INTO customers (email, name, country, is_vip, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    for (let i = 1; i <= counts.customers; i++) {
      c.run(
        `customer${i}@example.com`,
        `${names[i % names.length]} ${i}`,
        countries[i % countries.length],
        i % 17 === 0 ? 1 : 0,
        date(i * 7919),
      );
    }
    const p = db.prepare('INSERT INTO products VALUES (?, ?, ?, ?, ?)');
    for (let i = 1; i <= counts.products; i++) {
      const attributes =
        i % 5 === 0
          ? null
          : JSON.stringify({
              color: ['red', 'green', 'blue'][i % 3],
              weight_g: i * 3,
              tags: ['a', 'ž', '✨'].slice(0, i % 4),
            });
      p.run(
        `SKU-${String(i).padStart(6, '0')}`,
        `Product ${i} — ${names[i % names.length]}`,
        ((i * 37) % 100_000) / 100,
        i % 250,
        attributes,
      );
    }
    const o = db.prepare('INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)');
    const it = db.prepare('INSERT INTO order_items VALUES (?, ?, ?, ?, ?)');
    for (let i = 1; i <= counts.orders; i++) {
      const lines = Array.from({ length: 1 + (i % 4) }, (_, k) => {
        const product = 1 + ((i * 31 + (k + 1) * 7) % counts.products);
        return {
          line: k + 1,
          sku: `SKU-${String(product).padStart(6, '0')}`,
          price: ((product * 37) % 100_000) / 100,
          quantity: 1 + ((i + k + 1) % 3),
        };
      });
      const cents = lines.reduce((sum, l) => sum + Math.round(l.price * 100) * l.quantity, 0);
      o.run(
        i,
        1 + ((i * 7) % counts.customers),
        date(i * 104_729),
        statuses[i % 4],
        cents / 100,
        notes[i % notes.length],
      );
      for (const l of lines) it.run(i, l.line, l.sku, l.quantity, l.price);
      items += lines.length;
    }
    const a = db.prepare('INSERT INTO audit_log VALUES (?, ?, ?)');
    for (let i = 1; i <= counts.audit_log; i++)
      a.run(
        date(i * 613),
        i % 3 === 0 ? null : `admin${i % 5}`,
        `event ${i}: ${notes[i % notes.length] ?? 'ok'}`,
      );
  })();
  db.close();
  return { tables: { ...counts, order_items: items } };
}
