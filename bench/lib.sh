# Shared by bench/run.sh and bench/instructions.sh: messages and the
# installation of missing tools. Source it after setting LOG_PREFIX and WORK.
# Nothing is skipped silently: a missing tool is installed, or the caller dies
# with a message saying what is missing.

log() { printf '[%s] %s\n' "${LOG_PREFIX:-bench}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# install_debian PACKAGE...: apt-get install as root, without starting the
# packages' services (nginx's own, on port 80). "nginx" means nginx-light, the
# smaller build (it still has proxy, map, limit_req and upstream keepalive),
# with nginx as the fallback where the release no longer ships it.
install_debian() {
  [ "$#" -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || die "missing $* and not root: install them first (apt-get install $*)"
  log "installing $* from Debian"
  export DEBIAN_FRONTEND=noninteractive
  local policy_added=0 pkgs=() p
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  for p in "$@"; do
    [ "$p" = nginx ] && p=nginx-light
    pkgs+=("$p")
  done
  apt-get update -qq >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d; die "apt-get update failed"; }
  if ! apt-get install -y -qq "${pkgs[@]}" >>"$WORK/apt.log" 2>&1; then
    pkgs=("${pkgs[@]/nginx-light/nginx}")
    if ! apt-get install -y -qq "${pkgs[@]}" >>"$WORK/apt.log" 2>&1; then
      [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
      cat "$WORK/apt.log" >&2
      die "apt-get install ${pkgs[*]} failed"
    fi
  fi
  [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
  hash -r
}

# ensure_pip: python3's pip, from Debian if missing.
ensure_pip() {
  python3 -m pip --version >/dev/null 2>&1 || install_debian python3-pip
  python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip not available after installing python3-pip"
}

# pip_install MODULE PACKAGE: installs PACKAGE from PyPI unless python3 can
# already import MODULE.
pip_install() {
  python3 -c "import $1" >/dev/null 2>&1 && return 0
  ensure_pip
  log "installing $2 from PyPI"
  python3 -m pip install -q "$2" >"$WORK/pip.log" 2>&1 \
    || python3 -m pip install -q --break-system-packages "$2" >>"$WORK/pip.log" 2>&1 \
    || { cat "$WORK/pip.log" >&2; die "pip install $2 failed"; }
  python3 -c "import $1" >/dev/null 2>&1 || die "$2 installed but python3 cannot import $1"
}

# ensure_aws_cli: the aws CLI, from PyPI if missing.
ensure_aws_cli() {
  command -v aws >/dev/null 2>&1 && return 0
  ensure_pip
  log "installing the aws CLI from PyPI"
  python3 -m pip install -q awscli >"$WORK/pip.log" 2>&1 \
    || python3 -m pip install -q --break-system-packages awscli >>"$WORK/pip.log" 2>&1 \
    || { cat "$WORK/pip.log" >&2; die "pip install awscli failed"; }
  hash -r
  command -v aws >/dev/null 2>&1 || die "aws CLI installed but not on PATH"
}

# Kibibytes of resident memory of PID (VmRSS), or "?" when it is gone.
rss_kib() {
  local v
  v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)
  echo "${v:-?}"
}
