#!/usr/bin/env bash
# Install the Debian 12 packages that shmbus's build, tests and benchmarks
# need. Idempotent: packages already installed are skipped, and apt-get update
# runs only when something has to be installed. Optional packages (the clang
# sanitizer runtime, the iceoryx peer for the benchmarks) are installed when
# the archive has them and never make this script fail.
set -euo pipefail

REQUIRED=(
    build-essential pkg-config meson ninja-build
    libdpdk-dev libnuma-dev liburcu-dev libcmocka-dev libinih-dev
    gnuplot-nox strace libzmq3-dev python3 nftables iproute2
)
# libclang-rt-14-dev: only for clang sanitizer builds.
# iceoryx, libiceoryx-binding-c-dev: peers that shmbus-bench compares against.
OPTIONAL=(libclang-rt-14-dev iceoryx libiceoryx-binding-c-dev)

log() { printf 'install-deps: %s\n' "$*"; }

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

in_archive() {
    apt-cache show "$1" >/dev/null 2>&1
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    log "error: dpkg/apt not found; this script targets Debian 12" >&2
    exit 1
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    fi
fi

need_privileges() {
    if [[ "$(id -u)" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        log "error: not root and sudo is not available; cannot install: $*" >&2
        exit 1
    fi
}

apt_updated=0
apt_update() {
    if [[ "$apt_updated" -eq 0 ]]; then
        log "running apt-get update"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_updated=1
    fi
}

apt_install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

missing=()
for pkg in "${REQUIRED[@]}"; do
    if is_installed "$pkg"; then
        log "already installed: $pkg"
    else
        missing+=("$pkg")
    fi
done

missing_optional=()
for pkg in "${OPTIONAL[@]}"; do
    if is_installed "$pkg"; then
        log "already installed (optional): $pkg"
    else
        missing_optional+=("$pkg")
    fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
    need_privileges "${missing[@]}"
    apt_update
    log "installing: ${missing[*]}"
    apt_install "${missing[@]}"
fi

if [[ ${#missing_optional[@]} -gt 0 ]]; then
    # Optional packages alone do not force an apt-get update (that would make
    # every run hit the network when the archive lacks one); refresh only when
    # the package lists have never been downloaded.
    if [[ "$apt_updated" -eq 0 ]] && ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        if [[ "$(id -u)" -eq 0 || ${#SUDO[@]} -gt 0 ]]; then
            apt_update || log "warning: apt-get update failed; optional packages skipped"
        fi
    fi
    for pkg in "${missing_optional[@]}"; do
        if ! in_archive "$pkg"; then
            log "note: optional package $pkg is not in the archive; skipped"
            continue
        fi
        if [[ "$(id -u)" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
            log "note: optional package $pkg not installed (not root, no sudo)"
            continue
        fi
        log "installing (optional): $pkg"
        if ! apt_install "$pkg"; then
            log "warning: optional package $pkg failed to install; continuing"
        fi
    done
fi

log "done"
