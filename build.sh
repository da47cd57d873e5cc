#!/usr/bin/env bash
# Publishes every tool into out/ (out/ntpd, out/ntpdate, out/ntpdig, ...), each directly runnable.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if ! command -v dotnet >/dev/null 2>&1; then
  echo "build.sh: the .NET 10 SDK (dotnet) is required" >&2
  exit 1
fi
dotnet publish Meridian.sln -c Release --nologo -v quiet -clp:ErrorsOnly "$@"
echo "build.sh: published $(cd out && ls -1 | grep -Ev '\.(dll|json|pdb|so|xml)$' | tr '\n' ' ')into out/"
