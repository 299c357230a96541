# syntax=docker/dockerfile:1
# Warren: build stage compiles TypeScript and isolated-vm's native addon; the runtime stage holds
# only production dependencies, runs as a non-root user and mounts routes.d/ and plugins/.

FROM node:20-bookworm AS build
WORKDIR /app
# isolated-vm compiles from source: python3, make and g++ come with the full bookworm image.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
# The build copies the status page's own files (src/ui: HTML, CSS, browser modules) into dist/.
COPY scripts/copy-ui.mjs ./scripts/
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    WARREN_ROUTES=/app/routes.d \
    WARREN_PLUGINS=/app/plugins \
    WARREN_SCHEMAS=/app/schemas \
    WARREN_ADMIN_PORT=8080 \
    WARREN_ADMIN_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY schema ./schema
COPY routes.d ./routes.d
COPY plugins ./plugins
COPY schemas ./schemas
# The admin API listens on every interface so probes and port mappings reach it. Without
# WARREN_ADMIN_TOKEN its mutating and DLQ endpoints then answer 403: set a token (deploy/ does).
# Kubernetes mounts a ConfigMap over routes.d/ (and plugins/, schemas/); the image's examples are the default.
VOLUME ["/app/routes.d", "/app/plugins", "/app/schemas"]
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.WARREN_ADMIN_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# isolated-vm needs the V8 snapshot off in every process that loads it.
ENTRYPOINT ["node", "--no-node-snapshot", "bin/warren.js"]
CMD ["run"]
