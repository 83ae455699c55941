# One image for every Mailyard service; compose.yaml picks the service with `command`, e.g.
#   docker run ... mailyard node smtp-server/dist/main.js
# Each service needs DATABASE_URL and REDIS_URL (see .env.example and compose.yaml).

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: install everything, compile TypeScript, then drop the dev dependencies ----------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# The manifests first, so the `npm ci` layer is reused until a package.json or the lock changes.
# npm ci needs the package.json of every workspace listed in the root package.json.
COPY package.json package-lock.json ./
COPY core/package.json core/
COPY smtp-server/package.json smtp-server/
COPY inbound-worker/package.json inbound-worker/
COPY outbound-worker/package.json outbound-worker/
COPY backend/package.json backend/
COPY imap-server/package.json imap-server/
COPY frontend/package.json frontend/
COPY stack/package.json stack/
RUN npm ci --no-audit --no-fund

# Sources (.dockerignore keeps node_modules, dist, build info, data and .env out of the context).
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# Assemble what the runtime needs in /out: the root manifests and the production node_modules,
# the admin CLI, and for each service workspace its package.json ("exports" -> dist), its dist,
# and its own node_modules if npm had to put one there. node_modules/@mailyard/* are relative
# symlinks (../../core, ...) that resolve to these folders.
RUN set -eu; \
    mkdir -p /out; \
    cp -a package.json package-lock.json node_modules bin /out/; \
    for ws in core smtp-server inbound-worker outbound-worker backend imap-server; do \
      mkdir -p "/out/$ws"; \
      cp -a "$ws/package.json" "$ws/dist" "/out/$ws/"; \
      rm -f "/out/$ws/dist/.tsbuildinfo"; \
      if [ -d "$ws/node_modules" ]; then cp -a "$ws/node_modules" "/out/$ws/"; fi; \
    done; \
    mkdir -p /out/frontend; \
    cp -a frontend/dist /out/frontend/

# ---- runtime: production dependencies + compiled JavaScript, as an unprivileged user ---------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
ENV DATA_DIR=/data
WORKDIR /app

# Owned by root: the service user cannot modify its own code. The admin CLI runs as
#   docker compose exec backend node bin/mailyard.mjs --help
COPY --from=build /out ./

# DATA_DIR: a named volume mounted here starts out with this ownership, so the service user can
# write the generated TLS certificate into it.
RUN mkdir -p /data && chown node:node /data

# The official image's unprivileged user (uid 1000). It cannot bind ports below 1024, so the
# smtp-server container listens on SMTP_PORT=2525 and compose maps the host's port 25 onto it.
USER node

EXPOSE 2525 8080
CMD ["node", "backend/dist/main.js"]
