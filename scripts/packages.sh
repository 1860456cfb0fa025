# Sourced by scripts/run and scripts/test: the Debian packages Confab needs, and a function that
# installs the missing ones.

# The recorder draws and encodes meetings with GStreamer: its headers to build, its plugins to run
# (textoverlay, for the names on the tiles, is in gstreamer1.0-x). The SIP gateway codes phone
# callers' audio to and from Opus with libopus.
server_packages=(pkg-config libopus-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x)

# Installs the packages of "$@" that are not installed (as root), or says which are missing.
# Leaves the names of those it installed in `installed_now`.
installed_now=()
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  installed_now+=("${missing[@]}")
  printf '\n==> apt-get install %s\n' "${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
}
