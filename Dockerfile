# syntax=docker/dockerfile:1
# One image for all five services. The service is chosen by the command:
#   docker run ... meterlink node dist/apps/ingestion/src/main.js
# (docker-compose.yml and deploy/k8s set it per service; the default below is the registry).
# Configuration comes from environment variables only (see each app's src/config.ts).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: install everything, transpile apps/, libs/ and tools/ into dist/, drop dev deps
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV CI=true
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# build.cjs reads the path aliases from tsconfig.base.json and copies apps/*/migrations/*.sql
# into dist/ beside the compiled code, where the services look for them.
COPY tsconfig.base.json ./
COPY apps ./apps
COPY libs ./libs
COPY tools ./tools
RUN node tools/build/build.cjs \
  && test -f dist/apps/registry/migrations/001_registry.sql \
  && test -f dist/apps/profile-orchestrator/migrations/001_orchestrator.sql \
  && test -f dist/apps/billing/migrations/001_billing.sql \
  && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: compiled code and production dependencies, no sources, no toolchain
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    TZ=UTC \
    NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Consumption tariffs billing rates with (BILLING_TARIFFS_FILE, default config/tariffs.json).
COPY config ./config
# Default home of the orchestrator's eIM key (EIM_KEY_FILE): owned by the runtime user so that a
# volume mounted here starts writable. In Kubernetes the key comes from a Secret instead.
RUN mkdir -p /var/lib/meterlink/eim && chown -R 1000:1000 /var/lib/meterlink
# The base image's `node` user, by number so that Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 3001 3002 3003 3004 3005
CMD ["node", "dist/apps/registry/src/main.js"]
