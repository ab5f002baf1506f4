# debian: a minimal Debian 12 (bookworm), like the official debian image, plus the tools the
# labs use: bash, coreutils, procps, iproute2, iputils-ping and curl. Bootstrapping needs
# usrmerge, which pulls in all of perl; once /usr is merged, usr-is-merged takes its place.
# Usage (from images/build): build.sh OUT_LAYOUT WORK_DIR
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
out=$1 work=$2

# Documentation, manual pages and translations are left out (also for packages installed later
# in images built on this one): they are most of a minimal image's size and no test reads them.
sources=$(host_sources)
mmdebstrap --quiet --mode=root --variant=minbase --format=tar --skip=output/dev \
  --include=procps,iproute2,iputils-ping,curl \
  --aptopt='Acquire::Languages "none"' --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='chroot "$1" apt-get --quiet --yes install usr-is-merged >/dev/null' \
  --customize-hook='chroot "$1" apt-get --quiet --yes --autoremove purge usrmerge perl libperl5.36 perl-modules-5.36 libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl >/dev/null' \
  --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"' \
  bookworm "$work/rootfs.tar" ${sources:+"$sources"}

new_image "$out" "$work/rootfs.tar" "mmdebstrap --variant=minbase bookworm (+ procps iproute2 iputils-ping curl)"
umoci config --image "$out:latest" --created "$created" --os linux --architecture "$(dpkg --print-architecture)" \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.cmd bash \
  --history.created "$created" --history.created_by 'CMD ["bash"]'
