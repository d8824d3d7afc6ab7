#!/usr/bin/env bash
# Installs what fab needs to build and what its tests use, then builds fab.
# Debian 12 / Ubuntu 22.04+, run as root (or with sudo available). Swift 6 must be on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(
  # build: the C libraries fab links
  libssh2-1-dev libarchive-dev libssl-dev pkg-config
  # tests: real sshd and OpenSSH client, clean machines, apt repositories, packaging tools
  openssh-server openssh-client debootstrap reprepro lintian dpkg-dev fakeroot
  python3 python3-venv sudo patchelf chrpath netcat-openbsd curl util-linux git
  # reproducible-build tests: the report shown when two builds differ
  diffoscope
  # the Django example's kit steps
  node-less python3-rcssmin gettext
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get -o DPkg::Lock::Timeout=600 -o APT::Update::Error-Mode=any update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"
fi
$SUDO mkdir -p /run/sshd

swift build
