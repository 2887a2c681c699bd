# syntax=docker/dockerfile:1
# Multi-stage image for both processes (api and worker); compose and Kubernetes pick the command.

# --- build: all dependencies, compile TypeScript (npm ci runs `prepare` → tsc -b), then prune ---
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY apps ./apps
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && find apps packages -name '*.tsbuildinfo' -delete

# --- runtime: Node 24 LTS, production dependencies and compiled output only, non-root ---
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    WORKER_HEARTBEAT_FILE=/tmp/switchboard-worker.heartbeat
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
COPY --from=build /app/apps ./apps
# The image's `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000
# The API answers /health (503 when PostgreSQL or Redis is down); a worker container overrides
# this with its heartbeat check (see docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.status<500?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "apps/api/dist/server.js"]
