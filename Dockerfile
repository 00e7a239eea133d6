# syntax=docker/dockerfile:1
# callprobe agent image.
#
#   docker build -t callprobe .
#   docker run -d --name callprobe --network host \
#     -v /etc/callprobe:/etc/callprobe:ro -v callprobe-state:/var/lib/callprobe \
#     callprobe
#
# Run it with --network host: a test call negotiates RTP ports from
# rtp.port_min..port_max in SDP, and with bridge networking NAT would rewrite
# or drop that media (and SIP Via/Contact would carry the container address).
# See docs/operations.md.
#
# BASE_IMAGE: any Debian 12 image with Node >= 20.3 (node, npm, Node's headers
# under /usr/local/include/node) and an unprivileged user "node" (uid 1000), as
# the official image has. `npm run check:container` builds one from debootstrap
# where no registry image can be pulled.
ARG BASE_IMAGE=node:20-bookworm-slim

# --- build: compile TypeScript and the udpio addon, keep production dependencies only ---
FROM ${BASE_IMAGE} AS build
# Build udpio against the image's own Node headers (no header download).
ENV npm_config_nodedir=/usr/local
# C toolchain for native/udpio (kernel RTP timestamps; see docs/decisions.md "udpio").
RUN apt-get update && apt-get install -y --no-install-recommends g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY native/udpio/binding.gyp native/udpio/udpio.c ./native/udpio/
COPY scripts/build-native.mjs scripts/bundle.mjs ./scripts/
# npm run build: tsc, then scripts/bundle.mjs (the CLI as an esbuild bundle: bin dist/cli/probe.cjs, dist/cli/main.js + chunks, options-cmd.cjs).
# CI=true: a failed addon build fails the image build instead of shipping the dgram fallback.
RUN npm run build \
 && CI=true node scripts/build-native.mjs \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime ---
FROM ${BASE_IMAGE}
# NODE_OPTIONS: 1 MB V8 semi-space, as in systemd/callprobe.service (idle RSS, see there).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=1 \
    CALLPROBE_CONFIG=/etc/callprobe/callprobe.yaml \
    CALLPROBE_LOG_LEVEL=info
WORKDIR /opt/callprobe
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/native/udpio/build/Release/udpio.node ./native/udpio/build/Release/udpio.node
COPY probes ./probes
COPY scenarios ./scenarios
COPY docs ./docs
RUN mkdir -p /var/lib/callprobe && chown node:node /var/lib/callprobe
# The image's unprivileged "node" user (uid 1000): probes need no privileges.
USER node
VOLUME ["/var/lib/callprobe"]
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/callprobe/dist/cli/probe.cjs"]
CMD ["agent"]
