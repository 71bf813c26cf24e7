# Compressed copies of dummy made on the host (/variants):
#   dummy.ko              plain (decompressed), signature intact
#   dummy-kbuild.ko.xz    xz --check=crc32 --lzma2=dict=1MiB (what Kbuild does)
#   dummy-crc64.ko.xz     xz defaults (CRC64: the 6.12 in-kernel decoder refuses it)
#   dummy.ko.zst          zstd, content size in the frame header
#   dummy-pipe.ko.zst     zstd streamed through a pipe (no content size)
#   dummy.ko.gz           gzip
# On 6.1 every compressed one needs userspace decompression; on 6.12 xz may go to the
# kernel (MODULE_INIT_COMPRESSED_FILE). kmod 34.2 fails on the CRC64 xz with 6.12, on
# the streamed zstd and on gzip (Debian builds it without zlib); kmod-rs is meant to
# load them all (falling back to userspace decompression): step_diff.
for v in dummy.ko dummy-kbuild.ko.xz dummy.ko.zst; do
    step "insmod-$v" "/sbin/insmod /variants/$v; rc=\$?; grep '^dummy ' /proc/modules | cut -d' ' -f1-3; /sbin/rmmod dummy 2>/dev/null; exit \$rc"
done
for v in dummy-crc64.ko.xz dummy-pipe.ko.zst dummy.ko.gz; do
    step_diff "insmod-$v" "/sbin/insmod /variants/$v; rc=\$?; grep '^dummy ' /proc/modules | cut -d' ' -f1-3; /sbin/rmmod dummy 2>/dev/null; exit \$rc"
done
step insmod-tree-dummy '/sbin/insmod "$DUMMY"; rc=$?; grep "^dummy " /proc/modules | cut -d" " -f1-3; /sbin/rmmod dummy; exit $rc'
step_diff modinfo-variants 'for v in /variants/dummy*; do echo "$v: $(/sbin/modinfo -F name "$v") $(/sbin/modinfo -F sig_hashalgo "$v")"; done'
