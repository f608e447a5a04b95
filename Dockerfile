# Keyward: the license server and its CLI in one image.
#   docker build -t keyward .
#   docker run -d --name keyward -p 3001:3001 -v keyward-data:/data keyward
#   docker exec keyward keyward license create --product 8
# Node.js is Debian's (trixie ships 20.x), so the image builds from Debian packages and the npm
# registry alone. See docs/deployment.md#container-docker-podman.

# ---- toolchain: Debian's Node.js and its headers, a C++ compiler, npm (through corepack) ----
FROM debian:trixie-slim AS toolchain
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs libnode-dev python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Only for a build behind a TLS-intercepting proxy: a CA bundle mounted into the build, which npm
# must trust to reach its registry. Unset otherwise, and never part of the final image.
ARG NODE_EXTRA_CA_CERTS
# The npm that the lockfile was written with; Debian's own npm 9 would bring ~400 packages.
ARG NPM_VERSION=11.19.1
# nodedir: native addons compile against the headers of Debian's own Node build (libnode-dev),
# not headers that node-gyp would download for the upstream build.
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0 \
    npm_config_nodedir=/usr \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
RUN corepack install -g "npm@${NPM_VERSION}" && corepack enable npm && npm --version
WORKDIR /src
COPY package.json package-lock.json ./

# ---- deps: production dependencies only, native addons compiled for Debian's Node ----
FROM toolchain AS deps
ARG NODE_EXTRA_CA_CERTS
# --ignore-scripts: the package's own "prepare" (tsc) is not wanted here. The two native addons
# are then compiled from source for Debian's Node: better-sqlite3 cannot download a prebuilt
# binary, and argon2's bundled prebuilt one crashes (SIGSEGV) on Debian's shared-library Node.
# Afterwards, drop what nothing loads at run time: sources and object files of the addons, type
# declarations, source maps and Markdown files.
RUN npm ci --omit=dev --ignore-scripts \
 && rm -rf node_modules/argon2/prebuilds \
 && npm_config_build_from_source=true JOBS=max npm rebuild better-sqlite3 argon2 \
 && cd node_modules \
 && find better-sqlite3/build argon2/build -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} + \
 && find better-sqlite3/build/Release argon2/build/Release -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} + \
 && rm -rf better-sqlite3/deps better-sqlite3/src argon2/argon2 argon2/argon2.cpp \
 && find . -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
      -o \( -name '*.md' ! -iname 'licen[cs]e*' \) \) -delete \
 && cd .. \
 && node -e 'require("better-sqlite3")(":memory:").close(); require("argon2").hash("x").then(() => console.log("native addons load"))'

# ---- build: every dependency (no install scripts needed), TypeScript compiled to dist/ ----
FROM toolchain AS build
ARG NODE_EXTRA_CA_CERTS
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json \
 && find dist -type f \( -name '*.d.ts' -o -name '*.map' \) -delete

# ---- runtime: Debian's Node.js, production dependencies only, a non-root user ----
FROM debian:trixie-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 keyward \
 && useradd --system --uid 10001 --gid keyward --home-dir /data --shell /usr/sbin/nologin keyward \
 && mkdir -p /data \
 && chown keyward:keyward /data \
 && chmod 0700 /data
WORKDIR /app
COPY package.json ./
COPY bin ./bin
COPY src/dashboard/views ./src/dashboard/views
COPY src/dashboard/public ./src/dashboard/public
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
RUN ln -s /app/bin/keyward.js /usr/local/bin/keyward

# SQLite and secret.key live on the volume; every other setting comes from the environment
# (PUBLIC_URL, TRUST_PROXY, REDIS_URL, KEYWARD_SECRET, ...: see the README's Configuration).
ENV NODE_ENV=production \
    PORT=3001 \
    HOST=0.0.0.0 \
    DATA_DIR=/data \
    DATABASE_URL=sqlite:/data/keyward.db
VOLUME /data
EXPOSE 3001
USER keyward

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3001) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# tini as PID 1 passes SIGTERM on and reaps exited processes. Keyward's own handler then drains
# requests and writes every queued Previous Auths row before it exits (well within Docker's 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "keyward"]
CMD ["serve"]
