# bench/lib.sh - helpers shared by bench/run.sh and bench/scale.sh (sourced, not run).
# Needs bash >= 5, jq, a static busybox, and at least one of onggi-runtime/runc/crun for `spec`.

die() { echo "${0##*/}: $*" >&2; exit 2; }
warn() { echo "${0##*/}: $*" >&2; }

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)

# cgroup2 mount points below /sys/fs/cgroup while v1 controllers are mounted too
# (the "hybrid" layout crun 1.8 refuses: "cgroups in hybrid mode not supported")
hybrid_v2_mounts() {
    awk '$3 == "cgroup" {v1 = 1}
         $3 == "cgroup2" && $2 != "/sys/fs/cgroup" {m[++k] = $2}
         END {if (v1) for (i = 1; i <= k; i++) print m[i]}' /proc/self/mounts
}

# Call only inside a private mount namespace (unshare -m --propagation private):
# unmount the hybrid cgroup2 mounts so crun sees a plain cgroup v1 layout.
hide_unified() {
    local m
    while read -r m; do
        umount "$m" || die "cannot umount $m in the private mount namespace"
    done < <(hybrid_v2_mounts)
}

# crun 1.8 on the v1 layout with the unified mount hidden writes <path>/cgroup.procs
# as plain files into the tmpfs directory under the hidden mount point. Remove what
# belongs to TAG; only where that directory is no longer a cgroup2 mount.
unified_tmpfs_cleanup() {  # TAG
    local d
    for d in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd/unified; do
        [ -d "$d/$1" ] || continue
        [ "$(stat -f -c %T "$d" 2>/dev/null)" = tmpfs ] && rm -rf -- "${d:?}/$1"
    done
}

# Remove the cgroup directories named TAG that our containers' runtimes created and
# left (runtimes remove the leaf only): at the root of each hierarchy (crun, and
# runc/onggi where we sit at /) and below our own cgroup (runc/onggi resolve a
# relative cgroupsPath against it). rmdir only: a busy cgroup stays.
cgroup_cleanup() {  # TAG
    local tag=$1 mnt own hier d
    [ -n "$tag" ] || return 0
    while read -r mnt hier; do
        own=$(awk -F: -v h="$hier" '
            { n = split($2, c, ",");
              for (i = 1; i <= n; i++) if (c[i] == h) { print $3; exit }
              if (h == "" && $1 == "0") { print $3; exit } }' /proc/self/cgroup)
        for d in "$mnt/$tag" "$mnt${own%/}/$tag"; do
            [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
    done < <(awk '$3 == "cgroup" { n = split($4, o, ","); h = "";
                                   for (i = 1; i <= n; i++)
                                       if (o[i] ~ /^(cpu|cpuacct|cpuset|memory|devices|freezer|blkio|pids|hugetlb|net_cls|net_prio|perf_event|rdma|misc)$/ || o[i] ~ /^name=/) { h = o[i]; break }
                                   print $2, h }
                  $3 == "cgroup2" { print $2, "" }' /proc/self/mounts)
    return 0
}

# the onggi-runtime binary: $ONGGI, else the repo's release build, else PATH
find_onggi() {
    if [ -n "${ONGGI:-}" ]; then echo "$ONGGI"
    elif [ -x "$REPO_DIR/target/x86_64-unknown-linux-gnu/release/onggi-runtime" ]; then echo "$REPO_DIR/target/x86_64-unknown-linux-gnu/release/onggi-runtime"
    elif command -v onggi-runtime >/dev/null; then command -v onggi-runtime
    else return 1; fi
}

# parse_runtimes LIST: "name" or "name=path", comma-separated -> arrays
# names, bins (absolute paths) and hides (1: crun on a hybrid host, which
# needs the private mount namespace without the cgroup2 mounts). "onggi"
# without a path is $onggi_bin or find_onggi.
parse_runtimes() {
    local s n b h specs
    names=() bins=() hides=()
    IFS=, read -r -a specs <<<"$1"
    for s in "${specs[@]}"; do
        n=${s%%=*} b=
        [ "$s" != "$n" ] && b=${s#*=}
        if [ -z "$b" ]; then
            case $n in
                onggi) b=${onggi_bin:-$(find_onggi)} || die "onggi-runtime not found: cargo build --release, or --onggi PATH" ;;
                *) b=$(command -v "$n") || die "runtime not found: $n" ;;
            esac
        fi
        [ -x "$b" ] || die "not executable: $b"
        h=0
        case $n in crun*) [ -n "$(hybrid_v2_mounts)" ] && h=1 ;; esac
        names+=("$n") bins+=("$(readlink -f "$b")") hides+=("$h")
    done
}

# make_bundle DIR ARGS_JSON CGROUPS_PATH SPEC_BIN...
#   DIR/rootfs: static busybox + one symlink per applet; DIR/config.json from the
#   first SPEC_BIN whose `spec` works, edited: terminal false, args, cgroupsPath.
make_bundle() {
    local dir=$1 args=$2 cgpath=$3; shift 3
    local busybox=${BUSYBOX:-/bin/busybox} r=$1/rootfs a tool used=
    r=$dir/rootfs
    [ -x "$busybox" ] || die "busybox not found: $busybox (set BUSYBOX)"
    if command -v file >/dev/null && ! file -L "$busybox" | grep -q 'statically linked'; then
        die "$busybox is not statically linked (apt-get install busybox-static, or set BUSYBOX)"
    fi
    mkdir -p "$r"/{bin,dev,etc,proc,sys,tmp,root} || die "mkdir $r failed"
    chmod 1777 "$r/tmp"
    cp "$busybox" "$r/bin/busybox" && chmod 0755 "$r/bin/busybox"
    for a in $("$busybox" --list 2>/dev/null || echo "sh true sleep cat"); do
        [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
    printf 'root:x:0:\n' >"$r/etc/group"
    for tool in "$@"; do
        [ -n "$tool" ] || continue
        rm -f "$dir/config.json"
        # (in a subshell of its own: a crash is reported into spec.err, not the terminal)
        if { (cd "$dir" && exec "$tool" spec) >"$dir/spec.err" 2>&1; } 2>/dev/null && [ -s "$dir/config.json" ]; then
            used=$tool; break
        fi
        warn "'$tool spec' failed: $( { grep -m1 -iE 'mismatch|error:' "$dir/spec.err" || grep -m1 . "$dir/spec.err"; } | cut -c1-110); using the next spec tool"
    done
    [ -n "$used" ] || die "no runtime could write a config.json (spec)"
    rm -f "$dir/spec.err"
    # ociVersion 1.0.2: crun 1.8 refuses 1.2 and later, and every runtime
    # must get the very same config.
    jq --argjson args "$args" --arg cg "$cgpath" \
        '.ociVersion = "1.0.2" | .process.terminal = false | .process.args = $args | .linux.cgroupsPath = $cg' \
        "$dir/config.json" >"$dir/config.json.new" && mv "$dir/config.json.new" "$dir/config.json" \
        || die "jq failed on $dir/config.json"
    SPEC_USED=$used
}

# a copy of BUNDLE's config.json in DIR, with root.path pointing at BUNDLE's rootfs
# and a jq filter applied: bundles that share one rootfs
derive_bundle() {  # BUNDLE DIR JQ_FILTER [jq args...]
    local src=$1 dir=$2 filter=$3; shift 3
    mkdir -p "$dir"
    jq --arg rootfs "$src/rootfs" "$@" ".root.path = \$rootfs | $filter" "$src/config.json" >"$dir/config.json" \
        || die "jq failed deriving $dir"
}

runtime_version() {  # BIN -> one line
    local v
    v=$("$1" --version 2>/dev/null | head -n1)
    echo "${v:-unknown}"
}

# median, p90 (nearest rank), mean of microsecond values on stdin, printed in ms
stats_ms() {
    sort -n | awk '{a[NR] = $1; s += $1}
        END {if (!NR) {print "nan nan nan 0"; exit}
             m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
             k = int(0.9 * NR); if (k < 0.9 * NR) k++; if (k < 1) k = 1
             printf "%.2f %.2f %.2f %d\n", m / 1000, a[k] / 1000, s / NR / 1000, NR}'
}
median() { sort -n | awk '{a[NR] = $1} END {if (!NR) {print "nan"; exit}
    printf "%s\n", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

human_bytes() {  # bytes -> 224K, 2240K (2.19M)
    awk -v b="$1" 'BEGIN {if (b == "" || b !~ /^[0-9]+$/) {print "n/a"; exit}
        if (b >= 1048576) printf "%dK(%.2fM)\n", b / 1024, b / 1048576; else printf "%dK\n", b / 1024}'
}
