# Shared by the benchmark scripts (sourced; needs CACHE and a die function).

# kmod34_direct TOOL -> sets KMOD34 to the exec line of $CACHE/kmod34/bin/TOOL
# without its sh wrapper (trixie's ld.so --library-path ... --argv0 TOOL kmod), so
# that kmod is not billed for a `sh` start, and WRAPPER to the wrapper; checks that
# both are the same program.
kmod34_direct() {
    local tool=$1 r=$CACHE/kmod34/root f ldso="" v_direct v_wrapper
    WRAPPER=$CACHE/kmod34/bin/$tool
    [ -x "$WRAPPER" ] || die "no $WRAPPER: run scripts/fetch-reference.sh first"
    for f in "$r/usr/lib64/ld-linux-x86-64.so.2" "$r/lib64/ld-linux-x86-64.so.2" \
        "$r/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$r/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"; do
        if [ -e "$f" ]; then ldso=$f; break; fi
    done
    [ -n "$ldso" ] || die "no ld-linux-x86-64.so.2 under $r"
    KMOD34=("$ldso" --library-path "$r/usr/lib/x86_64-linux-gnu:$r/lib/x86_64-linux-gnu" --argv0 "$tool" "$r/usr/bin/kmod")
    v_direct=$("${KMOD34[@]}" --version 2>&1) || die "cannot run kmod 34 directly: $v_direct"
    v_wrapper=$("$WRAPPER" --version 2>&1) || die "cannot run $WRAPPER: $v_wrapper"
    [ "$v_direct" = "$v_wrapper" ] || die "direct loader call differs from the wrapper: '$v_direct' vs '$v_wrapper'"
}

# ratio A B -> A/B with two decimals ("-" when B is 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# build_ours -> builds the release kmod as `make static` does (static-pie, glibc:
# no dynamic loader at each start, ~0.3 ms of a one-module call; code laid out by
# bins/symbol-order.txt) and sets OURS_BIN.
# Needs ROOT and TARGET_DIR; the host's triple when it is x86_64 glibc, else a
# plain release build. BENCH_OURS=<binary> uses that binary instead (no build).
build_ours() {
    local triple
    if [ -n "${BENCH_OURS:-}" ]; then
        # another build of kmod-rs (e.g. an older one, for a before/after figure)
        OURS_BIN=$BENCH_OURS
        [ -x "$OURS_BIN" ] || die "BENCH_OURS: no executable $OURS_BIN"
        installed_copy
        return
    fi
    triple=$(rustc -vV | sed -n 's/^host: //p')
    if [ "$triple" = x86_64-unknown-linux-gnu ]; then
        log "cargo build --release --target $triple (static)"
        (cd "$ROOT" && KMOD_RS_SYMBOL_ORDER=1 RUSTFLAGS="-C target-feature=+crt-static" \
            cargo build --release --target "$triple" --bin kmod) >&2 || die "static release build failed"
        OURS_BIN=$TARGET_DIR/$triple/release/kmod
        order_report
    else
        log "cargo build --release"
        (cd "$ROOT" && cargo build --release --bin kmod) >&2 || die "cargo build --release failed"
        OURS_BIN=$TARGET_DIR/release/kmod
    fi
    [ -x "$OURS_BIN" ] || die "no $OURS_BIN"
    installed_copy
}

# order_report -> logs how many functions of bins/symbol-order.txt the binary no
# longer has (renamed or gone since the list was made: the code they stand for is no
# longer gathered; regenerate the list with scripts/symbol-order.sh)
order_report() {
    local list=$ROOT/bins/symbol-order.txt total missing
    command -v nm > /dev/null && [ -f "$list" ] || return 0
    total=$(wc -l < "$list")
    missing=$(nm --defined-only "$OURS_BIN" | awk '{ print $NF }' | sort -u |
        comm -13 - <(sort -u "$list") | wc -l)
    log "symbol order: $missing of $total listed functions missing from the binary"
}

# installed_copy -> OURS_BIN becomes a fresh copy of itself, written as `make install`
# (or a package) writes the binary users run. The linker's own output file starts
# ~0.1 ms slower per call here (same bytes; how its pages sit in the page cache),
# which would bill a one-module call for how cargo wrote the file.
installed_copy() {
    local copy=$TARGET_DIR/bench-installed/kmod
    mkdir -p "${copy%/*}"
    cp "$OURS_BIN" "$copy.new" && mv -f "$copy.new" "$copy" || die "cannot copy $OURS_BIN"
    OURS_BIN=$copy
}
