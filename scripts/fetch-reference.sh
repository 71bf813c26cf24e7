#!/usr/bin/env bash
# Fetch everything the differential and VM tests need, into a cache outside the
# checkout that survives between runs:
#   $CACHE/kmod34/bin/{kmod,modinfo,depmod,modprobe,insmod,rmmod,lsmod}  kmod 34.2 (trixie)
#   $CACHE/kmod30/bin/...                                                kmod 30 (bookworm)
#   $CACHE/trees/<name>/lib/modules/<kver>/...                           real module trees
#   $CACHE/trees/<name>/boot/vmlinuz-<kver>                              kernels (amd64)
#   $CACHE/trees/<name>/KVER                                             discovered release
#   $CACHE/control/<name>/{postinst,postrm,...}                          the image package's maintainer scripts (amd64)
# Never touches the host's apt sources: trixie and the foreign architectures
# come through private apt configurations under $CACHE/apt-*.
# Kernel ABI versions are discovered with apt-cache, never hard-coded.
set -euo pipefail

CACHE=${KMOD_RS_CACHE:-}
if [ -z "$CACHE" ]; then
    if [ "$(id -u)" = 0 ]; then CACHE=/var/cache/kmod-rs; else CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kmod-rs; fi
fi
mkdir -p "$CACHE"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

log() { printf 'fetch-reference: %s\n' "$*" >&2; }

# ---- host packages ------------------------------------------------------
need_pkgs=()
for p in xz-utils zstd gzip dpkg curl ca-certificates debian-archive-keyring; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
for p in ${KMOD_RS_EXTRA_PKGS:-}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
host_updated=0
host_update() {
    if [ $host_updated = 0 ]; then $SUDO apt-get update -qq >&2; host_updated=1; fi
}
if [ ${#need_pkgs[@]} -gt 0 ]; then
    host_update
    log "installing ${need_pkgs[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

# ---- private apt configurations ----------------------------------------
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$uri" ]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$uri" ] || { log "cannot find the host's Debian mirror URI"; exit 1; }

# apt_cfg NAME "SOURCE LINES" ARCHS -> prints the apt options for that config
apt_cfg() {
    local name=$1 lines=$2 archs=$3 dir=$CACHE/apt-$1
    mkdir -p "$dir/lists/partial" "$dir/archives/partial"
    printf '%s\n' "$lines" > "$dir/sources.list.new"
    if ! cmp -s "$dir/sources.list.new" "$dir/sources.list" 2>/dev/null; then
        mv "$dir/sources.list.new" "$dir/sources.list"
        rm -f "$dir/stamp"
    else
        rm -f "$dir/sources.list.new"
    fi
    local opts="-o Dir::Etc::SourceList=$dir/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir/cache -o Dir::Cache::archives=$dir/archives -o APT::Architecture=${archs%%,*} -o APT::Architectures=$archs -o Debug::NoLocking=1"
    mkdir -p "$dir/cache"
    # refresh the lists at most once a day
    if [ ! -e "$dir/stamp" ] || [ -n "$(find "$dir/stamp" -mmin +1440)" ] || [ -z "$(ls "$dir/lists" | grep -v partial)" ]; then
        log "apt update ($name)"
        # shellcheck disable=SC2086
        # a mirror in the middle of a sync may fail one list: keep what arrived
        if apt-get $opts update -qq >&2; then touch "$dir/stamp"; fi
    fi
    echo "$opts"
}

key=/usr/share/keyrings/debian-archive-keyring.gpg
APT_TRIXIE=$(apt_cfg trixie "deb [signed-by=$key] $uri trixie main" amd64)
APT_BOOKWORM=$(apt_cfg bookworm "deb [signed-by=$key] $uri bookworm main
deb [signed-by=$key] $uri bookworm-updates main
deb [signed-by=$key] ${uri%/debian}/debian-security bookworm-security main" amd64,i386,arm64,s390x)

# download APTOPTS PKG... into $dl (current directory)
download() {
    local opts=$1; shift
    # shellcheck disable=SC2086
    apt-get $opts download "$@" >&2
}

# image package that linux-image-<flavour> points at, e.g. linux-image-6.1.0-99-amd64
image_of() {
    local opts=$1 meta=$2
    # shellcheck disable=SC2086
    apt-cache $opts depends "$meta" | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# ---- reference kmod -----------------------------------------------------
make_kmod() {
    local name=$1 opts=$2; shift 2
    local dest=$CACHE/$name
    [ -x "$dest/bin/modinfo" ] && return 0
    log "fetching $name"
    rm -rf "$dest.tmp"; mkdir -p "$dest.tmp/debs" "$dest.tmp/root" "$dest.tmp/bin"
    (cd "$dest.tmp/debs" && download "$opts" "$@")
    for d in "$dest.tmp"/debs/*.deb; do dpkg-deb -x "$d" "$dest.tmp/root"; done
    local ld="" kmodbin="" f
    for f in usr/lib64/ld-linux-x86-64.so.2 lib64/ld-linux-x86-64.so.2 lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
        if [ -e "$dest.tmp/root/$f" ] && [ -z "$ld" ]; then ld=$f; fi
    done
    for f in usr/bin/kmod bin/kmod; do
        if [ -e "$dest.tmp/root/$f" ] && [ -z "$kmodbin" ]; then kmodbin=$f; fi
    done
    for tool in kmod modinfo depmod modprobe insmod rmmod lsmod; do
        cat > "$dest.tmp/bin/$tool" <<WRAP
#!/bin/sh
R=\$(dirname "\$0")/../root
exec "\$R/$ld" --library-path "\$R/usr/lib/x86_64-linux-gnu:\$R/lib/x86_64-linux-gnu" --argv0 $tool "\$R/$kmodbin" "\$@"
WRAP
        chmod +x "$dest.tmp/bin/$tool"
    done
    rm -rf "$dest.tmp/debs" "$dest"
    mv "$dest.tmp" "$dest"
    "$dest/bin/modinfo" -V >&2
}
make_kmod kmod34 "$APT_TRIXIE" kmod libkmod2 libc6 libssl3t64 liblzma5 libzstd1 zlib1g
make_kmod kmod30 "$APT_BOOKWORM" kmod:amd64 libkmod2:amd64 libc6:amd64 libssl3:amd64 liblzma5:amd64 libzstd1:amd64 zlib1g:amd64

# ---- module trees -------------------------------------------------------
# image_pkg APTOPTS META-PACKAGE -> the image package to fetch: the -unsigned one
# where it exists (same modules and maintainer scripts, smaller package)
image_pkg() {
    local opts=$1 meta=$2 img arch=""
    img=$(image_of "$opts" "$meta")
    [ -n "$img" ] || { log "cannot resolve $meta"; exit 1; }
    case "$meta" in *:*) arch=":${meta#*:}";; esac
    local base=${img%%:*}
    # shellcheck disable=SC2086
    if apt-cache $opts show "$base-unsigned$arch" >/dev/null 2>&1; then echo "$base-unsigned$arch"; else echo "$base$arch"; fi
}

# keep_control NAME DEB: the package's maintainer scripts into $CACHE/control/NAME
# (the tests run the removal loop of its postrm)
keep_control() {
    local dest=$CACHE/control/$1
    rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
    dpkg-deb -e "$2" "$dest.tmp"
    rm -rf "$dest"; mv "$dest.tmp" "$dest"
}

# tree NAME APTOPTS META-PACKAGE
tree() {
    local name=$1 opts=$2 meta=$3
    local dest=$CACHE/trees/$name
    [ -e "$dest/KVER" ] && return 0
    local pkg
    pkg=$(image_pkg "$opts" "$meta")
    log "fetching $name: $pkg"
    rm -rf "$dest.tmp"; mkdir -p "$dest.tmp/debs" "$dest.tmp/root"
    (cd "$dest.tmp/debs" && download "$opts" "$pkg")
    dpkg-deb -x "$dest.tmp"/debs/*.deb "$dest.tmp/root"
    keep_control "$name" "$dest.tmp"/debs/*.deb
    # normalise: modules under lib/modules (trixie ships them under usr/lib/modules)
    if [ -d "$dest.tmp/root/usr/lib/modules" ] && [ ! -d "$dest.tmp/root/lib/modules" ]; then
        mkdir -p "$dest.tmp/root/lib"
        mv "$dest.tmp/root/usr/lib/modules" "$dest.tmp/root/lib/modules"
    fi
    local kver
    kver=$(ls "$dest.tmp/root/lib/modules" | head -n1)
    echo "$kver" > "$dest.tmp/root/KVER"
    rm -rf "$dest.tmp/debs" "$dest"
    mkdir -p "$CACHE/trees"
    mv "$dest.tmp/root" "$dest"
    rm -rf "$dest.tmp"
    log "$name: $kver"
}
# control NAME APTOPTS META-PACKAGE: the image package's maintainer scripts, for a
# tree fetched before they were kept
control() {
    local name=$1 opts=$2 meta=$3
    [ -e "$CACHE/control/$name/postrm" ] && return 0
    local pkg tmp=$CACHE/control/$name.debs
    pkg=$(image_pkg "$opts" "$meta")
    log "fetching the maintainer scripts of $name: $pkg"
    rm -rf "$tmp"; mkdir -p "$tmp"
    (cd "$tmp" && download "$opts" "$pkg")
    keep_control "$name" "$tmp"/*.deb
    rm -rf "$tmp"
}
tree bookworm-amd64 "$APT_BOOKWORM" linux-image-amd64:amd64
tree trixie-amd64 "$APT_TRIXIE" linux-image-amd64
control bookworm-amd64 "$APT_BOOKWORM" linux-image-amd64:amd64
control trixie-amd64 "$APT_TRIXIE" linux-image-amd64
if [ -z "${KMOD_RS_ONLY_AMD64:-}" ]; then
    tree bookworm-i386 "$APT_BOOKWORM" linux-image-686:i386
    tree bookworm-arm64 "$APT_BOOKWORM" linux-image-arm64:arm64
    tree bookworm-s390x "$APT_BOOKWORM" linux-image-s390x:s390x
fi
echo "$CACHE"
