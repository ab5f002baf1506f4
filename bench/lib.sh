# What every benchmark shares (sourced, not run): a release build of mini, a work folder, a
# registry of its own serving the lab images, `m` to run mini on a root of its own, and timing
# helpers. Numbers are only compared within one run: these machines are shared and noisy.
[[ $EUID -eq 0 ]] || { echo "$0: run as root" >&2; exit 1; }

cargo build --release --locked -p mini --quiet
mini=$PWD/target/release/mini
work=$(mktemp -d /tmp/mini-bench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<CONF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
CONF
printf 'registry-mirrors = ["http://127.0.0.1:%s"]\ncgroup-parent = "/mini-bench"\n' "$port" >"$work/config.toml"
# A bridge, subnet and table of the benchmarks' own, beside any other mini on this host.
cat >>"$work/config.toml" <<'CONF'
bridge-name = "minibench0"
default-subnet = "10.198.0.0/24"
nft-table = "mini-bench"
CONF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
m() { "$mini" --root "$work/root" --runroot "$work/run" --config "$work/config.toml" "$@"; }

# Each benchmark may set bench_cleanup to a function that removes what it made first.
bench_cleanup() { :; }
cleanup() {
  bench_cleanup
  # Everything the benchmark's instance made: containers, bridge, nft table, accept rules, cgroups.
  m system reset -f || echo "$0: mini system reset of the benchmark's instance failed" >&2
  kill $registry 2>/dev/null; wait $registry 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

# pull_lab IMAGE...: builds (cached) and pushes lab images, then pulls them into mini.
pull_lab() {
  local image
  for image in "$@"; do
    images/build --push "127.0.0.1:$port/library" "$image" >/dev/null
    m pull -q "$image" >/dev/null
  done
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# ms COMMAND...: microseconds the command took (the name is history). A failing command ends
# the benchmark with its error: ms and times run in command substitutions, so each exits
# non-zero and `x=$(times ...)` then ends the script (set -e), whose EXIT trap cleans up.
ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>"$work/last.err" </dev/null || { echo "$0: $* failed: $(cat "$work/last.err")" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000))
}
# times COMMAND...: the median over $runs runs, in microseconds.
times() {
  local out=() one
  for _ in $(seq "$runs"); do one=$(ms "$@") || exit 1; out+=("$one"); done
  printf '%s\n' "${out[@]}" | median
}
ratio() { echo "scale=2; $1 / $2" | bc; }
