# Shared by the recipes in images/*/build.sh (sourced; the shell runs with -euo pipefail).

# SOURCE_DATE_EPOCH as RFC 3339, for image configs and history.
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

# The host's apt sources, so the images come from the same mirror the host uses.
host_sources() {
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    echo /etc/apt/sources.list.d/debian.sources
  elif [[ -s /etc/apt/sources.list ]]; then
    echo /etc/apt/sources.list
  fi
}

# new_image LAYOUT LAYER_TAR CREATED_BY: a layout with one image, "latest", made of one layer.
new_image() {
  umoci init --layout "$1"
  umoci new --image "$1:latest"
  umoci raw add-layer --image "$1:latest" \
    --history.created "$created" --history.created_by "$3" "$2"
}

# Sets every mtime newer than SOURCE_DATE_EPOCH to it, so rebuilt layers hash the same.
clamp_mtimes() {
  find "$1" -newermt "@$SOURCE_DATE_EPOCH" -print0 |
    xargs -0 --no-run-if-empty touch --no-dereference --date="@$SOURCE_DATE_EPOCH"
}
