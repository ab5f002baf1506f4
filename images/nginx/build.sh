# nginx: the debian image plus one layer with Debian's nginx, configured as the official nginx
# image behaves: serves /usr/share/nginx/html on port 80, logs to stdout and stderr, stops on
# SIGQUIT, runs /docker-entrypoint.sh with CMD nginx -g 'daemon off;'.
# Usage (from images/build, with PARENT_LAYOUT=the debian layout): build.sh OUT_LAYOUT WORK_DIR
recipe=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$recipe/../lib.sh"
out=$1 work=$2

cp -a "$PARENT_LAYOUT" "$out"
umoci unpack --image "$out:latest" "$work/bundle" >/dev/null
rootfs=$work/bundle/rootfs

# apt runs inside the unpacked root, in a mount namespace of its own so that its /proc and /dev
# vanish with it whatever happens. Services are not started (policy-rc.d).
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"
mkdir "$rootfs/dev" # the base layer has no /dev; the runtime makes it
unshare --mount --propagation private -- sh -euc '
  mount -t proc proc "$1/proc"
  mount --rbind /dev "$1/dev"
  chroot "$1" apt-get --quiet=2 update
  chroot "$1" env DEBIAN_FRONTEND=noninteractive \
    apt-get --quiet=2 --yes --no-install-recommends install nginx >/dev/null
  chroot "$1" apt-get clean
' sh "$rootfs"
rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/usr/sbin/policy-rc.d" "$rootfs/etc/resolv.conf" \
  "$rootfs/var/log/apt" "$rootfs/var/log/dpkg.log" "$rootfs/var/cache/debconf/"*-old \
  "$rootfs/var/lib/dpkg/"*-old
rmdir "$rootfs/dev"
mkdir -p "$rootfs/var/log/apt"

# The official image's shape.
rm -f "$rootfs/etc/nginx/sites-enabled/default"
install -m 644 "$recipe/default.conf" "$rootfs/etc/nginx/conf.d/default.conf"
install -m 644 "$recipe/50x.html" "$rootfs/usr/share/nginx/html/50x.html"
install -m 755 "$recipe/docker-entrypoint.sh" "$rootfs/docker-entrypoint.sh"
mkdir -p "$rootfs/docker-entrypoint.d"
ln -sf /dev/stdout "$rootfs/var/log/nginx/access.log"
ln -sf /dev/stderr "$rootfs/var/log/nginx/error.log"

clamp_mtimes "$rootfs"
umoci repack --image "$out:latest" --history.created "$created" \
  --history.created_by "apt-get install nginx; official nginx image layout" "$work/bundle" >/dev/null
umoci config --image "$out:latest" --created "$created" \
  --config.entrypoint /docker-entrypoint.sh \
  --config.cmd nginx --config.cmd -g --config.cmd 'daemon off;' \
  --config.exposedports 80/tcp --config.stopsignal SIGQUIT \
  --history.created "$created" \
  --history.created_by 'ENTRYPOINT ["/docker-entrypoint.sh"] CMD ["nginx","-g","daemon off;"] EXPOSE 80/tcp STOPSIGNAL SIGQUIT'
