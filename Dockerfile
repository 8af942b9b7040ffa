# crm-sync worker image: the Temporal worker, the S-360 notification receiver and the admin API.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY mappings ./mappings
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
USER node
EXPOSE 8090
# The worker's memory settings (src/cli/process-settings.ts), given here so that bin/crm-sync.js runs the worker in
# this process rather than in a second one.
ENV MALLOC_ARENA_MAX=1
ENTRYPOINT ["node", "--max-semi-space-size=2", "--max-old-space-size=192", "--wasm-num-compilation-tasks=1", "bin/crm-sync.js"]
CMD ["worker"]
