#!/usr/bin/env bash
# bench/fuzz/afl.sh [seconds-per-target] [target...]: coverage-guided fuzzing of bench/fuzz's harnesses with afl++ and
# SharpFuzz. Publishes the harness into .cache/fuzz-afl, instruments the Meridian assemblies there (never out/), runs
# afl-fuzz on each target from bench/fuzz/corpus/TARGET for the given seconds (default 60), prints one table of
# executions, paths, crashes and hangs (over -t 5000 ms), copies crashing inputs to bench/fuzz/crashes/TARGET/, and exits 1 if anything crashed.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

seconds=${1:-60}
[ $# -gt 0 ] && shift
corpus=bench/fuzz/corpus
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(ls "$corpus"); fi
say() { echo "afl.sh: $*" >&2; }

# --- afl++ from Debian, with no service allowed to start while it installs. --------------------------------------
if ! command -v afl-fuzz >/dev/null; then
  [ "$(id -u)" = 0 ] || { say "afl-fuzz is missing and only root can install afl++"; exit 2; }
  say "installing afl++"
  policy=/usr/sbin/policy-rc.d; placed=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; placed=1; fi
  rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends afl++; } >/dev/null || rc=$?
  [ $placed = 1 ] && rm -f "$policy"
  [ $rc = 0 ] || { say "apt-get install afl++ failed"; exit 2; }
fi

# --- The harness, published apart and instrumented: only the assemblies under test get afl's edge counters. ------
dotnet tool restore >/dev/null
build=.cache/fuzz-afl
rm -rf "$build"
dotnet publish bench/fuzz -c Release -o "$build" -p:IsPublishable=true --nologo -v quiet -clp:ErrorsOnly >/dev/null
for dll in Meridian.Protocol Meridian.Engine Meridian.Config; do
  dotnet tool run sharpfuzz "$build/$dll.dll" >/dev/null || { say "cannot instrument $dll.dll"; exit 2; }
done

# --- afl-fuzz per target, bounded by -V and by timeout. A container has no CPU governor to check, no core_pattern
# to set, and dotnet itself is not an afl binary (the instrumented code is in the managed assemblies). -------------
export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_BIN_CHECK=1 \
  AFL_NO_AFFINITY=1 AFL_FORKSRV_INIT_TMOUT=60000 AFL_QUIET=1
rows=(); total=0; status=0
for target in "${targets[@]}"; do
  [ -d "$corpus/$target" ] || { say "no corpus $corpus/$target"; status=2; continue; }
  out=.cache/afl-out/$target
  rm -rf "$out"; mkdir -p "$out"
  timeout -k 5 $((seconds + 60)) afl-fuzz -i "$corpus/$target" -o "$out" -V "$seconds" -t 5000 -m none \
    -- dotnet "$build/fuzz.dll" afl "$target" >"$out.log" 2>&1 </dev/null || true
  stats=$out/default/fuzzer_stats
  if [ ! -f "$stats" ]; then
    say "$target: afl-fuzz did not run; the end of $out.log:"; tail -15 "$out.log" >&2
    rows+=("$(printf '%-10s %12s %8s %8s %6s' "$target" - - failed -)"); status=2; continue
  fi
  stat() { sed -n "s/^$1 *: *//p" "$stats" | head -1; }
  crashes=$(stat saved_crashes); [ -n "$crashes" ] || crashes=$(stat unique_crashes)
  hangs=$(stat saved_hangs); [ -n "$hangs" ] || hangs=$(stat unique_hangs)
  rows+=("$(printf '%-10s %12s %8s %8s %6s' "$target" "$(stat execs_done)" "$(stat corpus_count)" "${crashes:-0}" "${hangs:-0}")")
  if [ "${crashes:-0}" != 0 ]; then
    total=$((total + crashes))
    mkdir -p "bench/fuzz/crashes/$target"
    n=0
    for f in "$out"/default/crashes/id:*; do
      [ -f "$f" ] || continue
      cp "$f" "bench/fuzz/crashes/$target/crash-$(printf '%03d' $n)"; n=$((n + 1))
    done
  fi
done

echo "afl++ $seconds s per target (SharpFuzz, in-process)"
printf '%-10s %12s %8s %8s %6s\n' target execs paths crashes hangs
printf '%s\n' "${rows[@]}"
if [ $total -gt 0 ]; then
  say "$total crashing inputs in bench/fuzz/crashes/; replay one with: dotnet $build/fuzz.dll afl TARGET < FILE"
  exit 1
fi
exit $status
