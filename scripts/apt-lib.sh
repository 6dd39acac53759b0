# Sourced by scripts/install-*.sh: install Debian packages with no service started.
#
#   apt_install_no_services LABEL PACKAGE[=VERSION]...
#
# Runs apt-get update only when the index lacks a package, denies service starts during the
# install (policy-rc.d exit 101: the tests start their own servers on free ports), and on
# failure prints apt's output and returns 1 so the caller can add its own hint.

apt_install_no_services() {
  local label=$1
  shift
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  if ! apt-cache show "$@" >/dev/null 2>&1; then
    echo "$label: apt-get update (the package index lacks $*)"
    $sudo apt-get update -qq
  fi
  local policy=/usr/sbin/policy-rc.d created=0 log rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    created=1
  fi
  log="$(mktemp)"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 || rc=$?
  if [ "$created" = 1 ]; then $sudo rm -f "$policy"; fi
  if [ "$rc" -ne 0 ]; then
    cat "$log" >&2
    echo "$label: apt-get install $* failed (output above)" >&2
  fi
  rm -f "$log"
  return "$rc"
}
