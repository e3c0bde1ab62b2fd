// Tests never read a developer's Freight settings by accident.
for (const key of Object.keys(process.env)) {
  if (key.startsWith('FREIGHT_') || key === 'DATABASE_URL' || key === 'REDIS_URL')
    delete process.env[key];
}
