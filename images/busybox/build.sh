# busybox: a tiny image made of Debian's busybox-static, for tests that want to start fast.
# Like the official busybox image: the applets in /bin, root and nobody in /etc/passwd, CMD sh.
# Usage (from images/build): build.sh OUT_LAYOUT WORK_DIR
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
out=$1 work=$2

# The same package version the host's apt would install.
(cd "$work" && apt-get download --quiet=2 busybox-static 2>/dev/null) ||
  { echo "cannot download busybox-static; run 'apt-get update' first" >&2; exit 1; }
dpkg-deb --extract "$work"/busybox-static_*.deb "$work/deb"

rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,dev,etc,home,proc,root,sys,tmp,usr,var/spool/mail}
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"
install -m 755 "$work/deb/bin/busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"

tar --create --file "$work/rootfs.tar" --directory "$rootfs" --sort=name \
  --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --owner=0 --group=0 --numeric-owner .
version=$(dpkg-deb --field "$work"/busybox-static_*.deb Version)
new_image "$out" "$work/rootfs.tar" "busybox-static $version from Debian"
umoci config --image "$out:latest" --created "$created" --os linux --architecture "$(dpkg --print-architecture)" \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.cmd sh \
  --history.created "$created" --history.created_by 'CMD ["sh"]'
