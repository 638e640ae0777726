# shellcheck shell=bash
# Debian packages invitegate needs to build, test and run, and the check that
# installs the missing ones. Source after common.sh.

IG_PACKAGES=(
    libh2o-evloop-dev libssl-dev libhiredis-dev libsodium-dev libjansson-dev
    libcmocka-dev redis-server redis-tools pkg-config libpq-dev cmake gcc
    clang-format postgresql-15 python3 procps
    # sd_notify for the Type=notify units; systemd-analyze checks the units;
    # cpack's Debian package reads the binaries' dependencies with
    # dpkg-shlibdeps (dpkg-dev) after finding them with file.
    libsystemd-dev systemd dpkg-dev file
)

# What scripts/fuzz adds to IG_PACKAGES: clang and its libFuzzer runtime.
# shellcheck disable=SC2034  # used by scripts/fuzz
IG_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

# missing_packages: prints the packages of IG_PACKAGES that are not installed.
missing_packages() {
    local p
    for p in "${IG_PACKAGES[@]}"; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
            printf '%s\n' "$p"
        fi
    done
}

# apt_retry ARGS...: apt-get with a retry, for flaky mirrors on CI.
apt_retry() {
    local try
    for try in 1 2 3; do
        if DEBIAN_FRONTEND=noninteractive apt-get "$@"; then
            return 0
        fi
        warn "apt-get $1 failed (attempt $try of 3)"
        sleep $((try * 5))
    done
    return 1
}

# ensure_packages: as root, installs what is missing (apt-get update first);
# as anyone else, prints the command to run and exits 1.
ensure_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        warn "dpkg-query not found: not a Debian system, assuming the build dependencies are installed"
        return 0
    fi
    local missing
    mapfile -t missing < <(missing_packages)
    [ "${#missing[@]}" -eq 0 ] && return 0
    if ! is_root; then
        printf 'These packages are missing: %s\n' "${missing[*]}" >&2
        printf 'Install them, then run this again:\n\n' >&2
        printf '    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s\n\n' \
            "${missing[*]}" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    apt_retry update -q || die "apt-get update failed"
    apt_retry install -y -q --no-install-recommends "${missing[@]}" || die "apt-get install failed"
}
