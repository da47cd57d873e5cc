#!/usr/bin/env bash
# Builds when needed, then runs ntpd in the foreground on the embedded configuration below: it serves time on
# loopback (127.0.0.1 and ::1) from the local clock at stratum 10 (so clients see stratum 11) and never adjusts this
# machine's clock.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x out/ntpd ] || [ -n "$(find src Directory.Build.props Directory.Packages.props \( -name "*.cs" -o -name "*.csproj" -o -name "*.props" \) -newer out/ntpd 2>/dev/null | head -1)" ]; then
  ./build.sh
fi

config=$(mktemp "${TMPDIR:-/tmp}/meridian-ntp.XXXXXX.conf")
trap 'rm -f "$config"' EXIT
cat >"$config" <<'CONF'
# Meridian's default configuration for ./run.sh
server 127.127.1.0                 # the local clock driver ...
fudge  127.127.1.0 stratum 10      # ... at stratum 10: we serve stratum 11, reference ID LOCL
disable ntp                        # never adjust this machine's clock
interface ignore all               # serve on loopback only ('all' is every address but loopback's)
CONF

if [ "$(id -u)" != 0 ]; then
  echo "run.sh: ntpd serves UDP port 123, which needs root (or CAP_NET_BIND_SERVICE): try 'sudo ./run.sh'" >&2
fi
cat >&2 <<'HOW'
run.sh: ntpd is starting on loopback (127.0.0.1 and ::1), port 123; stop it with Ctrl-C. Query it from another terminal:
          out/ntpq -p 127.0.0.1    out/ntpstat    out/ntpdig 127.0.0.1    out/ntpdate -q 127.0.0.1
HOW
exec out/ntpd -n -c "$config" "$@"
