#!/usr/bin/env bash
# The deploy kit in one command: installs what is needed (scripts/setup.sh), starts a clean Debian
# build host on loopback by itself (fab-testbed: a debootstrap chroot with its own sshd, passwordless
# sudo for apt only needed), runs `fab deb` on the whois example, prints where the .deb is and what
# it contains, then stops the build host.
#
#   scripts/demo.sh            # needs root (chroots), Debian's archive and PyPI; about 2 minutes cold
#   KEEP=1 scripts/demo.sh     # leave the build host running (fab-testbed's pid is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: run as root: the build host is a chroot with mounts (see Sources/FabTestSupport/CleanMachine.swift)." >&2
  exit 1
fi

scripts/setup.sh
swift build --product fab
swift build --product fab-testbed
bin=$(swift build --show-bin-path)

work=$(mktemp -d /tmp/fab-demo.XXXXXX)
artifacts="$work/debs"
mkdir -p "$artifacts"
"$bin/fab-testbed" --dir "$work" --build buildvm >"$work/testbed.log" 2>&1 &
testbed=$!
stop() {
  if [ "${KEEP:-}" = 1 ]; then
    echo "demo.sh: build host left running: kill $testbed to stop it; ssh config: $work/ssh_config"
  else
    kill "$testbed" 2>/dev/null && wait "$testbed" 2>/dev/null || true
  fi
}
trap stop EXIT

echo "demo.sh: starting the build host (the first start builds a cached Debian base, about a minute)..."
for _ in $(seq 1 600); do
  [ -f "$work/ready" ] && break
  if ! kill -0 "$testbed" 2>/dev/null; then cat "$work/testbed.log" >&2; exit 1; fi
  sleep 0.5
done
[ -f "$work/ready" ] || { echo "demo.sh: the build host did not start; see $work/testbed.log" >&2; exit 1; }
cat "$work/testbed.log"

# The .debs go to a scratch folder here; without FAB_ARTIFACT_DIR they land in Fabfiles/whois/debian/
# (gitignored). There is no repository host in the demo: the version is the VERSION file's or 1.
start=$(date +%s)
FAB_ARTIFACT_DIR="$artifacts" "$bin/fab" -F "$work/ssh_config" -f "$root/Fabfiles/whois/fabfile.swift" deb
end=$(date +%s)

deb=$(ls -1 "$artifacts"/*.deb | tail -n 1)
echo
echo "demo.sh: built in $((end - start)) s: $deb"
dpkg-deb --info "$deb"
contents=$(dpkg-deb --contents "$deb")
echo "First files of $(printf '%s\n' "$contents" | wc -l) entries:"
printf '%s\n' "$contents" | awk '{print $6}' | grep -v '/$' | sed -n 1,15p
