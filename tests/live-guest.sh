#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# live-guest.sh DIR: builds a minimal Linux guest for the live tests in DIR:
# vmlinuz and initrd.gz (busybox + virtio modules + an /init that counts: it
# writes the counter at offset 0 of /dev/vda with fsync, prints "tick N" on the
# serial console, sleeps a second). Kernel and busybox come from Debian's
# archive by apt-get download (TESTBED); exits 77 with the reason on stderr when
# that is impossible.
set -eu
dir=${1:?usage: live-guest.sh DIR}
mkdir -p "$dir/dl" "$dir/root"
cd "$dir/dl"
abi=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
[ -n "$abi" ] || { echo "apt-cache does not know linux-image-amd64" >&2; exit 77; }
apt-get download -q "$abi" busybox-static >/dev/null 2>&1 ||
        { echo "apt-get download $abi busybox-static failed" >&2; exit 77; }
dpkg-deb --fsys-tarfile "$abi"_*.deb | tar -x --wildcards './boot/vmlinuz-*' \
        './lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/block/virtio_blk.ko*'
dpkg-deb -x busybox-static_*.deb bb
cp boot/vmlinuz-* "$dir/vmlinuz"

root=$dir/root
mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev"
cp bb/bin/busybox "$root/bin/busybox"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
        find lib/modules -name "$m.ko" -exec cp {} "$root/lib/modules/" \;
done
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
        insmod /lib/modules/$m.ko
done
while [ ! -b /dev/vda ]; do sleep 0.1; done
n=0
while :; do
        n=$((n + 1))
        printf '%-16s' "$n" | dd of=/dev/vda bs=16 count=1 conv=notrunc,fsync 2>/dev/null
        echo "tick $n"
        sleep 1
done
INIT
chmod 755 "$root/init"
mknod "$root/dev/console" c 5 1 2>/dev/null || true
cd "$root"
./bin/busybox find . | ./bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$dir/initrd.gz"
