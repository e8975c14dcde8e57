#!/bin/sh
# fleeting-plugin-openstack, self-extracting (packaging/build-single-file --bundler pyinstaller-sfx).
# A PyInstaller one-dir bundle follows this header as a gzip'd tar. It is unpacked
# once per build (@DIGEST@) into $FLEETING_OPENSTACK_CACHE, else
# $XDG_CACHE_HOME/fleeting-plugin-openstack, else ~/.cache/fleeting-plugin-openstack,
# and then exec'd: later starts cost what the one-dir bundle costs.
# Needs /bin/sh, tail, tar and gzip on the target (a minimal Debian has them).
set -eu
cache=${FLEETING_OPENSTACK_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/fleeting-plugin-openstack}
dir="$cache/@DIGEST@"
if [ ! -x "$dir/plugin/plugin" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.unpack.XXXXXX")
  tail -n +@SKIP@ "$0" | tar -xzf - -C "$tmp"
  mv "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"   # another start won the race
fi
exec "$dir/plugin/plugin" "$@"
exit 1
