# debian-packages.sh — sourced by scripts/setup.sh and scripts/setup-python.sh:
#   install_debian_packages WHO PKG...
# installs the packages that are not installed yet (apt-get, no recommends; root or
# sudo), saying which under the name WHO; does nothing when all are present.
install_debian_packages() {
  local who=$1 p missing=() SUDO=
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "$who: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}
