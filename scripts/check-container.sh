#!/usr/bin/env bash
# npm run check:container — build the Docker image for real and run `probe demo`
# inside it, as the image's unprivileged user, with the udpio addon loaded.
#
# No registry image can be pulled on these machines, so the Dockerfile's
# BASE_IMAGE is built here: debootstrap bookworm (minbase) plus the build
# machine's own Node runtime (node, npm, Node's headers) and a user "node"
# (uid 1000), the parts of the official node image the Dockerfile relies on.
# The image is built with buildah (Debian's; root, host network so the build's
# apt-get and npm ci reach the package registries) and run with host
# networking, as docs/operations.md says a deployment must.
#
# Slow (about 3-5 minutes on 2 cores, first run longer for debootstrap), so it
# is not part of `npm test`. Writes bench/results/container-check.json.
# Needs root, podman, buildah and debootstrap (apt-get install podman buildah debootstrap).
set -euo pipefail
exec </dev/null
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROOTFS=${CALLPROBE_BASE_ROOTFS:-/var/tmp/callprobe-base-rootfs}
NODE_BIN=$(command -v node)
NODE_VERSION=$(node -p 'process.version')
BASE_TAG="localhost/callprobe-base:bookworm-node${NODE_VERSION#v}"
IMAGE_TAG=localhost/callprobe:check
RESULT=bench/results/container-check.json

fail() { echo "check:container: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (podman build/run and debootstrap)"
for t in podman buildah debootstrap; do
  command -v "$t" >/dev/null || fail "$t is missing: apt-get install -y podman buildah debootstrap"
done
NODE_PREFIX=$(dirname "$(dirname "$(readlink -f "$NODE_BIN")")")
[ -d "$NODE_PREFIX/include/node" ] || fail "Node's headers not found under $NODE_PREFIX/include/node"
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$NPM_DIR/package.json" ] || fail "npm not found beside $NODE_BIN"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(now)

# 1. the base image: debootstrap once (kept in $ROOTFS), then the Node runtime.
if [ ! -x "$ROOTFS/usr/bin/apt-get" ]; then
  echo "=== debootstrap bookworm into $ROOTFS"
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOTFS" http://deb.debian.org/debian >/dev/null
fi
install -D -m 755 "$NODE_BIN" "$ROOTFS/usr/local/bin/node"
rm -rf "$ROOTFS/usr/local/include/node" "$ROOTFS/usr/local/lib/node_modules/npm"
mkdir -p "$ROOTFS/usr/local/include" "$ROOTFS/usr/local/lib/node_modules"
cp -a "$NODE_PREFIX/include/node" "$ROOTFS/usr/local/include/node"
cp -a "$NPM_DIR" "$ROOTFS/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
# the registry's CA as the build machine trusts it (npm's cafile here)
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$ROOTFS/usr/local/etc"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nfund=false\naudit=false\nupdate-notifier=false\n' > "$ROOTFS/usr/local/etc/npmrc"
chroot "$ROOTFS" sh -c 'id node >/dev/null 2>&1 || { groupadd -g 1000 node && useradd -u 1000 -g node -m -s /bin/sh node; }'
echo "=== import base image $BASE_TAG"
tar -C "$ROOTFS" -c . | podman import --quiet -c 'CMD ["node"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE_TAG" >/dev/null
T1=$(now)

# 2. the image, from the repository's Dockerfile as it is. buildah's chroot
# isolation runs the RUN steps: in this sandbox the OCI runtimes (crun, runc)
# cannot start a container at all (setrlimit RLIMIT_NPROC / RLIMIT_NOFILE in the
# container's init fails with EPERM, and crun refuses the hybrid cgroup v1
# hierarchy), so step 3 tries podman run first and says which way it ran.
echo "=== buildah bud --build-arg BASE_IMAGE=$BASE_TAG -t $IMAGE_TAG ."
buildah bud --quiet --isolation chroot --format docker --network host \
  --build-arg "BASE_IMAGE=$BASE_TAG" -t "$IMAGE_TAG" -f Dockerfile . >/dev/null
T2=$(now)
SIZE=$(podman image inspect "$IMAGE_TAG" --format '{{.Size}}')
IMAGE_USER=$(podman image inspect "$IMAGE_TAG" --format '{{.Config.User}}')
ENTRY=$(podman image inspect "$IMAGE_TAG" --format '{{join .Config.Entrypoint " "}}')
[ "$IMAGE_USER" = node ] || fail "the image's USER is '$IMAGE_USER', not the unprivileged 'node'"

# 3. inside it, as the image's user: who runs, whether the addon loads, the demo call.
echo "=== run $IMAGE_TAG demo --json (as $IMAGE_USER)"
RUNNER="podman run (OCI runtime)"
if ! OCI_ERR=$(podman run --rm --network host --entrypoint id "$IMAGE_TAG" -un 2>&1); then
  OCI_ERR=$(grep '^Error' <<<"$OCI_ERR" | tail -1)
  echo "podman run is not possible here: $OCI_ERR" >&2
  RUNNER="buildah run --isolation chroot (podman run refused: $OCI_ERR)"
  CTR=$(buildah from --quiet "$IMAGE_TAG")
  trap 'buildah rm "$CTR" >/dev/null 2>&1 || true' EXIT
  in_image() { buildah run --isolation chroot --network host --user "$IMAGE_USER" --workingdir /opt/callprobe "$CTR" -- "$@"; }
else
  in_image() { podman run --rm --network host --entrypoint "$1" "$IMAGE_TAG" "${@:2}"; }
fi
USER_IN=$(in_image id -un)
[ "$USER_IN" = node ] || fail "the image runs as '$USER_IN', not the unprivileged 'node'"
# shellcheck disable=SC2086 # ENTRY is the image's ENTRYPOINT, words on purpose
DEMO=$(in_image $ENTRY demo --json) || { echo "$DEMO"; fail "probe demo failed inside the container"; }
T3=$(now)
echo "$DEMO" | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const d = r.media?.directions ?? [];
  console.log(`demo in container: ${r.success ? "PASSED" : "FAILED"}, ${r.sip?.final_status} ${r.sip?.reason}, ` +
    `arrival timestamps: ${r.media?.arrival_timestamps}`);
  for (const x of d) console.log(`  ${x.direction}: sent ${x.packets_sent} received ${x.packets_received} lost ${x.packets_lost} MOS ${x.mos}`);
  if (!r.success) process.exit(1);
  if (r.media?.arrival_timestamps !== "kernel") { console.error("udpio addon not loaded in the container"); process.exit(1); }
'

mkdir -p bench/results
DEMO_JSON=$DEMO node -e '
  const os = require("os");
  const demo = JSON.parse(process.env.DEMO_JSON);
  const [base, build, run, total] = process.argv.slice(1).map(Number);
  const out = {
    check: "container", date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, mem_gib: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), loadavg: os.loadavg() },
    engine: process.argv[10], base_image: process.argv[5], image: process.argv[6],
    image_size_bytes: Number(process.argv[7]), user: process.argv[8],
    seconds: { base, build, run, total },
    demo: { success: demo.success, final_status: demo.sip?.final_status, arrival_timestamps: demo.media?.arrival_timestamps,
            directions: (demo.media?.directions ?? []).map((d) => ({ direction: d.direction, packets_sent: d.packets_sent,
              packets_received: d.packets_received, packets_lost: d.packets_lost, jitter_ms: d.jitter_ms, mos: d.mos })) },
  };
  require("fs").writeFileSync(process.argv[9], JSON.stringify(out, null, 2) + "\n");
' "$(secs "$T0" "$T1")" "$(secs "$T1" "$T2")" "$(secs "$T2" "$T3")" "$(secs "$T0" "$T3")" \
  "$BASE_TAG" "$IMAGE_TAG" "$SIZE" "$USER_IN" "$RESULT" "buildah bud (chroot isolation); $RUNNER; host network"
echo "check:container: passed in $(secs "$T0" "$T3") s (base $(secs "$T0" "$T1") s, build $(secs "$T1" "$T2") s); $RESULT"
