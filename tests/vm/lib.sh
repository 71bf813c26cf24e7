# Host-side functions of the QEMU harness; sourced by tests/vm/run.sh and
# scripts/vm-demo.sh (bash). See tests/vm/README.md.
#
# Inputs (environment):
#   KMOD_RS_CACHE       reference data (scripts/fetch-reference.sh); default as there
#   KMOD_RS_VM_WORK     build/output directory (default: <repo>/target/vm)
#   KMOD_RS_VM_KMOD     use this static kmod binary instead of building one

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_REPO=$(cd "$VM_DIR/../.." && pwd)
VM_WORK=${KMOD_RS_VM_WORK:-$VM_REPO/target/vm}
VM_SUDO=""
[ "$(id -u)" = 0 ] || VM_SUDO=sudo

vm_log() { printf 'vm: %s\n' "$*" >&2; }
vm_die() { printf 'vm: error: %s\n' "$*" >&2; exit 1; }

# Install the host packages the harness needs (Debian), apt-get update at most once.
vm_need_pkgs() {
    local missing=() p
    for p in qemu-system-x86 busybox-static cpio python3 xz-utils zstd gzip; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    vm_log "installing ${missing[*]}"
    $VM_SUDO apt-get update -qq >&2
    $VM_SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Locate (fetching the amd64 part if needed) the reference data; sets VM_CACHE.
vm_cache() {
    local c=${KMOD_RS_CACHE:-}
    if [ -z "$c" ]; then
        if [ "$(id -u)" = 0 ]; then c=/var/cache/kmod-rs; else c=${XDG_CACHE_HOME:-$HOME/.cache}/kmod-rs; fi
    fi
    if [ ! -e "$c/trees/bookworm-amd64/KVER" ] || [ ! -e "$c/trees/trixie-amd64/KVER" ] || [ ! -x "$c/kmod34/root/usr/bin/kmod" ]; then
        vm_log "fetching the reference data (amd64 only)"
        c=$(KMOD_RS_CACHE=$c KMOD_RS_ONLY_AMD64=1 "$VM_REPO/scripts/fetch-reference.sh" | tail -n 1)
    fi
    VM_CACHE=$c
    export KMOD_RS_CACHE=$c
}

# Build the fully static kmod-rs in its own target dir (no fight with the shared one
# over the cargo lock); sets VM_KMOD.
vm_build_kmod() {
    if [ -n "${KMOD_RS_VM_KMOD:-}" ]; then
        VM_KMOD=$KMOD_RS_VM_KMOD
    else
        local triple=x86_64-unknown-linux-gnu
        vm_log "building the static kmod (target/static)"
        (cd "$VM_REPO" && KMOD_RS_SYMBOL_ORDER=1 RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$VM_REPO/target/static" \
            cargo build --release --quiet --target "$triple" --bin kmod) >&2 || vm_die "static build failed"
        VM_KMOD=$VM_REPO/target/static/$triple/release/kmod
    fi
    [ -x "$VM_KMOD" ] || vm_die "no kmod binary at $VM_KMOD"
    vm_is_static "$VM_KMOD" || vm_die "$VM_KMOD is not static"
}

# is_static FILE: no dynamic loader needed (ldd exits 1 for some static files)
vm_is_static() {
    local o
    o=$(LC_ALL=C ldd "$1" 2>&1 || true)
    case "$o" in *"not a dynamic executable"* | *"statically linked"*) return 0 ;; *) return 1 ;; esac
}

# modname PATH: kernel module name of a module file
vm_modname() { local b=${1##*/}; b=${b%%.ko*}; echo "${b//-/_}"; }

# vm_plain SRC DST: the module file SRC decompressed (by its name) to DST
vm_plain() {
    case "$1" in
        *.xz) xz -dc "$1" > "$2" ;;
        *.zst) zstd -qdc "$1" > "$2" ;;
        *.gz) gzip -dc "$1" > "$2" ;;
        *) cp "$1" "$2" ;;
    esac
}

# dep_path MODDIR NAME: relative path of module NAME in modules.dep
vm_dep_path() {
    awk -v n="$2" -F: '{ p = $1; b = p; sub(/.*\//, "", b); sub(/\.ko.*/, "", b); gsub(/-/, "_", b); if (b == n) { print p; exit } }' "$1/modules.dep"
}

# Prepare TREE: host index of the whole tree (once), the module subset, the variants,
# the initramfs. Sets VM_KVER VM_VMLINUZ VM_INITRD.
vm_prepare() {
    local tree=$1
    local root=$VM_CACHE/trees/$tree
    local kver
    kver=$(cat "$root/KVER")
    VM_KVER=$kver
    VM_VMLINUZ=$root/boot/vmlinuz-$kver
    [ -r "$VM_VMLINUZ" ] || vm_die "no kernel image $VM_VMLINUZ"
    local k34=$VM_CACHE/kmod34/bin
    local w=$VM_WORK/$tree
    mkdir -p "$w"

    # 1. kmod 34.2's depmod over a link copy of the whole tree (cached)
    local full=$VM_CACHE/vm/$tree/full
    if [ "$(cat "$full/.done" 2>/dev/null)" != "$kver" ]; then
        vm_log "$tree: indexing the whole tree with kmod 34.2 (once)"
        rm -rf "$full"
        mkdir -p "$full/lib/modules"
        cp -al "$root/lib/modules/$kver" "$full/lib/modules/" 2>/dev/null ||
            cp -a "$root/lib/modules/$kver" "$full/lib/modules/"
        "$k34/depmod" -b "$full" "$kver"
        echo "$kver" > "$full/.done"
    fi
    local fmd=$full/lib/modules/$kver

    # 2. scenario parameters, chosen from the tree (never hard-coded versions)
    local loop dummy ext pci_mod="" pci_dep="" pci_alias="" builtin="" inuse="" m dep
    loop=$(vm_dep_path "$fmd" loop)
    dummy=$(vm_dep_path "$fmd" dummy)
    [ -n "$loop" ] && [ -n "$dummy" ] || vm_die "$tree: loop or dummy missing"
    ext=.${loop#*.}
    for m in e100 8139too r8169 igb tg3; do
        dep=$(grep -E "/$m\.ko[^:]*: ." "$fmd/modules.dep" | head -n1 || true)
        if [ -n "$dep" ] && grep -qE "^alias pci:\S+ $m\$" "$fmd/modules.alias"; then
            pci_mod=$m
            pci_dep=$(echo "$dep" | awk '{ print $2 }')
            pci_alias=$(awk -v m="$m" '$1 == "alias" && $2 ~ /^pci:/ && $3 == m { print $2; exit }' "$fmd/modules.alias" |
                sed -e 's/sv\*/sv00000000/; s/sd\*/sd00000000/; s/bc\*/bc02/; s/sc\*/sc00/; s/i\*$/i00/')
            break
        fi
    done
    [ -n "$pci_mod" ] || vm_die "$tree: no PCI driver with dependencies found"
    for m in unix nls_base sha256_generic; do
        if grep -qE "/$m\.ko\$" "$fmd/modules.builtin"; then builtin=$m; break; fi
    done
    local bdeps
    bdeps=$(grep -E '/btrfs\.ko[^:]*:' "$fmd/modules.dep" | cut -d: -f2 || true)
    for m in $bdeps; do
        [ -z "$inuse" ] && inuse=$(vm_modname "$m")
        [ "$(vm_modname "$m")" = libcrc32c ] && inuse=libcrc32c
    done
    [ -n "$inuse" ] || vm_die "$tree: btrfs has no dependencies?"

    # 3. the module subset: what kmod 34.2's modprobe would load for every scenario
    #    (dependencies and softdeps), plus the crypto modules the kernel may ask for
    local empty=$w/empty-config
    mkdir -p "$empty"
    local list=$w/modules.list
    : > "$list"
    local r
    for r in loop dummy brd btrfs vfat fs-vfat char-major-10-237 "$pci_alias" "$pci_mod"; do
        "$k34/modprobe" -d "$full" -S "$kver" -C "$empty" --show-depends "$r" 2>/dev/null |
            awk '$1 == "insmod" { print $2 }' | sed "s|^$fmd/||" >> "$list"
    done
    (cd "$fmd" && find kernel/crypto kernel/arch/x86/crypto -name '*.ko*' 2>/dev/null) >> "$list"
    sort -u -o "$list" "$list"

    # 4. the initramfs tree
    local st=$w/stage
    rm -rf "$st"
    mkdir -p "$st"/usr/{bin,sbin,lib64,lib/x86_64-linux-gnu,lib/modules/"$kver"} "$st"/{proc,sys,dev,tmp,run,root} \
        "$st"/etc/{modprobe.d,kmodrs/scenarios} "$st"/{kmod-rs/bin,ref/bin,variants,hostdepmod}
    ln -s usr/bin "$st/bin"
    ln -s usr/sbin "$st/sbin"
    ln -s usr/lib "$st/lib"
    ln -s usr/lib64 "$st/lib64"
    # busybox, with links for the applets the scripts use and NONE of the module tools
    local bb
    bb=$(command -v busybox || true)
    [ -n "$bb" ] || bb=/bin/busybox
    vm_is_static "$bb" || vm_die "$bb is not busybox-static"
    cp "$bb" "$st/usr/bin/busybox"
    local a
    for a in sh ash cat echo ls cp mv rm mkdir ln grep sed sort head tail wc sleep poweroff \
        date seq test [ printf true false dmesg cut tr mount umount md5sum cmp stat touch \
        uname xargs awk find basename dirname sync env readlink timeout stty ip; do
        ln -s busybox "$st/usr/bin/$a"
    done
    # kmod-rs (static) and kmod 34.2 with trixie's loader and libraries
    cp "$VM_KMOD" "$st/kmod-rs/bin/kmod"
    local kr=$VM_CACHE/kmod34/root
    cp "$kr/usr/bin/kmod" "$st/ref/bin/kmod"
    cp -a "$kr/usr/lib64/ld-linux-x86-64.so.2" "$st/usr/lib64/"
    cp -a "$kr"/usr/lib/x86_64-linux-gnu/*.so* "$st/usr/lib/x86_64-linux-gnu/"
    # modules
    local md=$st/usr/lib/modules/$kver
    (cd "$fmd" && tar -cf - -T "$list" modules.order modules.builtin modules.builtin.modinfo) | tar -C "$md" -xf -
    # host-side kmod 34.2 depmod of the subset, for comparison in the guest
    "$k34/depmod" -b "$st" "$kver"
    local f
    for f in "$md"/modules.*; do
        case "${f##*/}" in
            modules.order | modules.builtin | modules.builtin.modinfo) ;;
            *) mv "$f" "$st/hostdepmod/" ;;
        esac
    done
    # variants of dummy
    local v=$st/variants
    vm_plain "$fmd/$dummy" "$v/dummy.ko"
    xz --check=crc32 --lzma2=dict=1MiB -c "$v/dummy.ko" > "$v/dummy-kbuild.ko.xz"
    xz -c "$v/dummy.ko" > "$v/dummy-crc64.ko.xz"
    zstd -q -c "$v/dummy.ko" > "$v/dummy.ko.zst"
    zstd -q -c < "$v/dummy.ko" > "$v/dummy-pipe.ko.zst"
    gzip -9n -c "$v/dummy.ko" > "$v/dummy.ko.gz"
    python3 "$VM_DIR/patch-module.py" strip-sig "$v/dummy.ko" "$v/dummy-nosig.ko" > /dev/null
    python3 "$VM_DIR/patch-module.py" vermagic "$v/dummy.ko" "$v/dummy-vermagic.ko" > "$w/variants.txt"
    python3 "$VM_DIR/patch-module.py" crc "$v/dummy.ko" "$v/dummy-badcrc.ko" >> "$w/variants.txt"
    # vfat with the __versions CRC of a symbol exported by fat (its dependency)
    # flipped: with fat loaded, the real CRC is known from fat's file
    local crc_mod=vfat crc_dep=fat crc_line crc_sym crc_good crc_bad
    vm_plain "$fmd/$(vm_dep_path "$fmd" "$crc_mod")" "$w/$crc_mod.ko"
    vm_plain "$fmd/$(vm_dep_path "$fmd" "$crc_dep")" "$w/$crc_dep.ko"
    crc_line=$(python3 "$VM_DIR/patch-module.py" crc-dep "$w/$crc_mod.ko" "$w/$crc_dep.ko" "$v/$crc_mod-badcrc.ko")
    echo "$crc_line" >> "$w/variants.txt"
    rm -f "$w/$crc_mod.ko" "$w/$crc_dep.ko"
    read -r crc_sym crc_good crc_bad < <(echo "$crc_line" |
        sed -n 's/.*__versions \([^:]*\): crc \(0x[0-9a-f]*\) -> \(0x[0-9a-f]*\).*/\1 \2 \3/p')
    [ -n "$crc_bad" ] || vm_die "$tree: could not flip a CRC of $crc_mod: $crc_line"
    # configuration, parameters, scripts
    cat > "$st/etc/modprobe.d/test.conf" <<EOF
# kmod-rs VM tests
options loop max_loop=5
install dummy /bin/echo installing dummy; /sbin/modprobe --ignore-install dummy
remove dummy /bin/echo removing dummy; /sbin/modprobe -r --ignore-remove dummy
softdep brd pre: loop
alias kmodrs-test-alias loop
EOF
    cat > "$st/etc/kmodrs/params" <<EOF
export KVER='$kver'
export MODDIR='/lib/modules/$kver'
export EXT='$ext'
export LOOP='/lib/modules/$kver/$loop'
export DUMMY='/lib/modules/$kver/$dummy'
export PCI_MOD='$pci_mod'
export PCI_DEP='$pci_dep'
export PCI_ALIAS='$pci_alias'
export BUILTIN='$builtin'
export INUSE='$inuse'
export CRC_MOD='$crc_mod'
export CRC_DEP='$crc_dep'
export CRC_SYM='$crc_sym'
export CRC_GOOD='$crc_good'
export CRC_BAD='$crc_bad'
EOF
    cp "$st/etc/kmodrs/params" "$w/params"
    cp "$VM_DIR/guest/init" "$st/init"
    chmod 755 "$st/init"
    cp "$VM_DIR/guest/lib.sh" "$st/etc/kmodrs/lib.sh"
    cp "$VM_DIR"/scenarios/*.sh "$st/etc/kmodrs/scenarios/"
    # 5. cpio newc, gzip; owned by root without needing root
    VM_INITRD=$w/initrd.gz
    (cd "$st" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 > "$VM_INITRD.tmp"
    mv "$VM_INITRD.tmp" "$VM_INITRD"
    vm_log "$tree: $kver, $(wc -l < "$list") modules, initramfs $(du -k "$VM_INITRD" | cut -f1) KiB ($(du -sk "$st" | cut -f1) KiB unpacked)"
}

# vm_boot TREE IMPL OUTDIR SCENARIOS CYCLES TIMEOUT [live]
# Boots TREE's kernel with its initramfs (vm_prepare first) and the IMPL tools.
# Writes OUTDIR/{console.log,transcript.txt,status}. With "live", the transcript goes
# to stdout instead (and is also saved).
vm_boot() {
    local tree=$1 impl=$2 out=$3 scen=$4 cycles=$5 tmo=$6 live=${7:-}
    local root=$VM_CACHE/trees/$tree kver
    kver=$(cat "$root/KVER")
    local initrd=$VM_WORK/$tree/initrd.gz
    mkdir -p "$out"
    rm -f "$out/console.log" "$out/transcript.txt" "$out/status"
    local append="console=ttyS0 panic=-1 quiet loop.max_part=7 kmodrs_impl=$impl kmodrs_cycles=$cycles"
    [ -n "$scen" ] && append="$append kmodrs_scenarios=$scen"
    local t0 t1 rc=0
    local qemu=(timeout -k 5 "$tmo" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1
        -nodefaults -display none -no-reboot
        -kernel "$root/boot/vmlinuz-$kver" -initrd "$initrd" -append "$append"
        -serial "file:$out/console.log")
    t0=$(date +%s.%N)
    if [ -n "$live" ]; then
        { "${qemu[@]}" -serial stdio < /dev/null 2> "$out/qemu.err" && echo 0 > "$out/.rc" || echo $? > "$out/.rc"; } |
            tee "$out/transcript.txt" | python3 "$VM_DIR/transcript.py" follow
        rc=$(cat "$out/.rc")
    else
        "${qemu[@]}" -serial "file:$out/transcript.txt" < /dev/null > /dev/null 2> "$out/qemu.err" || rc=$?
    fi
    t1=$(date +%s.%N)
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    local status
    if grep -q '^@@@DONE' "$out/transcript.txt" 2>/dev/null; then
        status=ok
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        status="TIMEOUT after ${tmo}s"
    else
        status="INCOMPLETE (qemu exit $rc)"
    fi
    echo "$status ${secs}s" > "$out/status"
    vm_log "$tree/$impl: $status in ${secs}s"
}
