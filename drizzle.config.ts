import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` turns schema changes into a new committed SQL migration.
export default defineConfig({
  dialect: 'postgresql',
  schema: './packages/db/src/schema/*.ts',
  out: './packages/db/migrations',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/switchboard' },
});
