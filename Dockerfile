# vmflow's production image: the compiled build (`npm run build`: dist/ with the workflow bundle
# and the dashboard) on Node, with production dependencies only. Its entrypoint is the `vmflow`
# CLI from dist/: `worker`, `api`, `agent --host <name>`, `temporal setup`, `tokens create`, ...
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY ui ./ui
RUN npx tsx scripts/build.ts

FROM node:${NODE_VERSION}-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
ENTRYPOINT ["node", "--enable-source-maps", "dist/src/cli/main.js"]
