# syntax=docker/dockerfile:1
# One image for every Sluice service; the command names the service's entry:
#   docker run sluice services/edge/src/main.ts      (router, registry, agent, ddns, demo likewise)
#
# No compile step: the repository has none, and the image runs the TypeScript sources through tsx
# exactly as the tests and `npm run up` do, so what was tested is what runs. tsx costs a few hundred
# milliseconds at start (transpiled files are cached per process) and nothing per request.

ARG NODE_IMAGE=node:20-bookworm-slim

# Only the manifests, so that the dependency layer is rebuilt when they change and not on every edit.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /out \
 && cp package.json package-lock.json /out/ \
 && find libs services -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /out/ \;

# Production dependencies only (tsx among them), without what nothing reads at run time.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /out/ ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -iname 'README*' -o -iname 'CHANGELOG*' \) -delete

# The dashboard's static files (Vite + React), built with the dev dependencies, copied alone.
FROM ${NODE_IMAGE} AS web
WORKDIR /src
COPY --from=manifests /out/ ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY libs/ libs/
COPY services/ services/
COPY scripts/ scripts/
RUN npx tsx scripts/build-dashboard.ts

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    OPS_HOST=0.0.0.0 \
    OPS_PORT=9464
WORKDIR /app
COPY --from=deps /app/ ./
COPY tsconfig.base.json tsconfig.json ./
COPY libs/ libs/
COPY services/ services/
COPY --from=web /src/services/registry/web/dist/ services/registry/web/dist/
# the node image's unprivileged user; nothing in /app is writable by it
USER node
EXPOSE 9464
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["services/edge/src/main.ts"]
