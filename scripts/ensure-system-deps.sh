#!/usr/bin/env bash
# Installs Debian packages for commands that are missing. Usage: ensure-system-deps.sh cmd:package ...
# A spec `pkg:package` checks the package itself (for libraries no command stands for).
# Runs apt-get only when something is missing; as root directly, otherwise it says what to run.
# Daemons in these packages (redis, postfix) are NOT started: policy-rc.d forbids it during the install.
set -euo pipefail
missing=()
for spec in "$@"; do
  cmd=${spec%%:*}; pkg=${spec#*:}
  if [ "$cmd" = pkg ]; then
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  elif ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then missing+=("$pkg"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != "0" ]; then
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing: ${missing[*]} (no apt-get here; install them with your package manager)" >&2
  exit 1
fi
echo "Installing from Debian: ${missing[*]}" >&2
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
fi
cleanup() { [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; true; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
