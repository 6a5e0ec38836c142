#!/usr/bin/env bash
# Installs a Vulkan driver that Dawn accepts, where none is present.
# Debian 12's own Mesa (22.x) is too old for Dawn, so lavapipe comes from
# bookworm-backports (Mesa 25.x). Idempotent: a second run changes nothing.
set -euo pipefail

have_lavapipe() {
  # A backports lavapipe ICD, and a loader to read it.
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 &&
    ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' &&
    dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -qv '^22\.'
}

if [ "$(uname -s)" != "Linux" ]; then
  echo "setup-vulkan: not Linux; Dawn uses Metal/D3D12 here, nothing to install."
  exit 0
fi

if have_lavapipe; then
  echo "setup-vulkan: lavapipe already installed ($(dpkg-query -W -f='${Version}' mesa-vulkan-drivers))."
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-vulkan: no apt-get; install a Vulkan driver (Mesa >= 24 lavapipe or a GPU driver) by hand." >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
backports="${codename}-backports"

# Enable backports on the same mirror and component as the existing entry.
if ! grep -rqs "$backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    comp=$(awk '/^Components:/{ $1=""; sub(/^ /,""); print; exit}' /etc/apt/sources.list.d/debian.sources)
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "${uri:-http://deb.debian.org/debian}" "$backports" "${comp:-main}" |
      $SUDO tee /etc/apt/sources.list.d/backports.sources >/dev/null
  else
    line=$(grep -E "^deb .* ${codename} " /etc/apt/sources.list | head -n1)
    uri=$(echo "$line" | awk '{print $2}')
    comp=$(echo "$line" | cut -d' ' -f4-)
    echo "deb ${uri:-http://deb.debian.org/debian} $backports ${comp:-main}" |
      $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t "$backports" mesa-vulkan-drivers libvulkan1 >/dev/null
echo "setup-vulkan: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)."
