#!/bin/sh
# Builds fab in release mode and installs it under PREFIX (default /usr/local):
#
#   PREFIX/bin/fab                          the executable
#   PREFIX/lib/fab/fab-scan                 the fabfile scanner, which fab runs when it compiles a fabfile
#   PREFIX/lib/fab/Modules/*.swiftmodule    the Swift modules fabfiles compile against (FabCore, FabDeploy
#                                           and the modules they import; not fab's command line or swift-syntax)
#   PREFIX/lib/fab/include/<C module>/      module maps and shim headers of the C libraries they import
#
# fab finds PREFIX/lib/fab next to its own executable, so the prefix can be anywhere.
# Fabfiles are compiled with the Swift compiler on PATH (or $SWIFTC): it must be the one that built fab.
#
# Usage: scripts/install.sh [PREFIX]
#        SCRATCH_PATH=DIR scripts/install.sh PREFIX    build in DIR instead of .build
#        FAB_BIN_PATH=DIR scripts/install.sh PREFIX    install the fab already built in DIR (no build; tests use this)
set -eu

# What fabfiles import, and every module those import: the compiler needs them all to load FabCore and
# FabDeploy. Add a module here when FabCore or FabDeploy starts depending on it.
fabfile_modules="FabCore FabDeploy FabSSH FabArchive FabProcess Stencil PathKit"

prefix="${1:-/usr/local}"
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ -n "${FAB_BIN_PATH:-}" ]; then
    bin="$FAB_BIN_PATH"
else
    set -- -c release --package-path "$root"
    if [ -n "${SCRATCH_PATH:-}" ]; then
        set -- "$@" --scratch-path "$SCRATCH_PATH"
    fi
    swift build "$@" --product fab
    swift build "$@" --product fab-scan
    bin="$(swift build "$@" --show-bin-path)"
fi

for module in $fabfile_modules; do
    if [ ! -f "$bin/Modules/$module.swiftmodule" ]; then
        echo "install.sh: $bin/Modules/$module.swiftmodule is missing; the build did not produce fab's modules." >&2
        exit 1
    fi
done
if [ ! -x "$bin/fab-scan" ]; then
    echo "install.sh: $bin/fab-scan is missing; build it with swift build -c release --product fab-scan." >&2
    exit 1
fi

mkdir -p "$prefix/bin" "$prefix/lib"

# Stage the library folder and swap it in, so a fab that is running never sees half of it.
stage="$prefix/lib/.fab.new.$$"
old="$prefix/lib/.fab.old.$$"
rm -rf "$stage"
mkdir -p "$stage/Modules" "$stage/include"
for module in $fabfile_modules; do
    cp "$bin/Modules/$module.swiftmodule" "$stage/Modules/"
    if [ -f "$bin/Modules/$module.swiftdoc" ]; then cp "$bin/Modules/$module.swiftdoc" "$stage/Modules/"; fi
done
cp "$bin/fab-scan" "$stage/fab-scan"
chmod 755 "$stage/fab-scan"
for dir in "$root"/Sources/*/; do
    if [ -f "$dir/module.modulemap" ]; then
        name="$(basename "$dir")"
        mkdir -p "$stage/include/$name"
        cp "$dir/module.modulemap" "$stage/include/$name/"
        for header in "$dir"*.h; do
            if [ -f "$header" ]; then cp "$header" "$stage/include/$name/"; fi
        done
    fi
done
if [ -d "$prefix/lib/fab" ]; then mv "$prefix/lib/fab" "$old"; fi
mv "$stage" "$prefix/lib/fab"
rm -rf "$old"

# The executable last, under a temporary name and renamed into place.
cp "$bin/fab" "$prefix/bin/.fab.new.$$"
chmod 755 "$prefix/bin/.fab.new.$$"
mv -f "$prefix/bin/.fab.new.$$" "$prefix/bin/fab"

echo "Installed $prefix/bin/fab, and its scanner and modules in $prefix/lib/fab."
