#!/usr/bin/env bash
# Installs what the tests need, builds, runs every test, and ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

say() { echo "test.sh: $*"; }

# --- Debian packages: the reference peers (NTPsec, gpsd), the namespace tools, chromium for ntpviz's report, afl++. ---
need=()
for pair in ntpsec:/usr/sbin/ntpd ntpsec-ntpdig:/usr/bin/ntpdig ntpsec-ntpdate:/usr/sbin/ntpdate iproute2:/usr/sbin/ip util-linux:/usr/bin/setpriv gpsd:/usr/sbin/gpsd gpsd-clients:/usr/bin/ntpshmmon ntpsec-ntpviz:/usr/bin/ntpviz chromium:/usr/bin/chromium fonts-dejavu-core:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf afl++:/usr/bin/afl-fuzz; do
  [ -e "${pair#*:}" ] || need+=("${pair%%:*}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq >/dev/null
    # Never let a package start a time daemon on this machine: policy-rc.d 101 forbids service starts.
    policy=/usr/sbin/policy-rc.d; placed=0
    if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; placed=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    rc=$?
    [ $placed = 1 ] && rm -f "$policy"
    [ $rc = 0 ] || { say "apt-get install failed"; exit 1; }
  else
    say "not root: cannot install ${need[*]}; the end-to-end tests will be skipped"
  fi
fi

# --- chrony: conflicts with ntpsec as a package, so it is unpacked into a cache folder. -------------------------
if [ ! -x .cache/chrony/usr/sbin/chronyd ] && [ "$(id -u)" = 0 ]; then
  say "unpacking chrony into .cache/chrony"
  mkdir -p .cache/deb && rm -rf .cache/chrony
  ( cd .cache/deb && rm -f chrony_*.deb && apt-get download chrony >/dev/null 2>&1 ) || { apt-get update -qq >/dev/null; ( cd .cache/deb && apt-get download chrony >/dev/null ); }
  dpkg -x .cache/deb/chrony_*.deb .cache/chrony || { say "cannot unpack chrony"; exit 1; }
fi

# --- Build: the tools into out/, then the tests. ---------------------------------------------------------------
./build.sh || { say "build failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
dotnet build Meridian.sln -c Release --nologo -v quiet -clp:ErrorsOnly || { say "test build failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

# --- Run. As root, the end-to-end tests must run: a missing prerequisite fails them instead of skipping. ----------
rm -rf TestResults
[ "$(id -u)" = 0 ] && export MERIDIAN_REQUIRE_INTEROP=1
# Belt and braces: nothing the tests start may write this machine's clock.
export MERIDIAN_FORBID_CLOCK_WRITES=1
dotnet test Meridian.sln -c Release --no-build --nologo \
  --logger "trx" --results-directory TestResults --logger "console;verbosity=minimal"
status=$?

# Leftover namespaces of this run would mean a test did not clean up.
leftover=$(ip netns list 2>/dev/null | awk '{print $1}' | grep '^meridian-' || true)
if [ -n "$leftover" ]; then
  say "namespaces left behind: $leftover"
  for ns in $leftover; do ip netns del "$ns"; done
  status=1
fi

if [ -f TestResults/figures.txt ]; then
  say "figures measured by the tests:"
  sed 's/^/  /' TestResults/figures.txt
fi

# --- Count from the results, not from the console. --------------------------------------------------------------
passed=0; failed=0; skipped=0
for trx in TestResults/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  skipped=$((skipped + $(get notExecuted)))
done
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ "$status" = 0 ]
