#!/usr/bin/env bash
# demo.sh - what `make run` shows: mcpwall wrap in front of the security-tools
# MCP server with the sample policy examples/demo/policy.yaml.in; a small host
# lists the tools, makes an allowed call and two the gateway refuses, then the
# audit log is verified.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/mcpwall}
build=$(dirname "$bin")
demo=$PWD/examples/demo
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpwall-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
sed "s|@DEMO@|$demo|g" examples/demo/policy.yaml.in >"$work/policy.yaml"

"$bin" check -c "$work/policy.yaml" -q
"$build/examples/demo/demo_host" "$bin" "$work/policy.yaml" "$work/audit.jsonl" \
    "$build/examples/servers/security-tools/mcp-security-tools" "$demo"
echo
echo "→ mcpwall audit verify (the tamper-evident record of every decision)"
"$bin" audit verify "$work/audit.jsonl" | sed 's|^.*/audit.jsonl|  audit.jsonl|'
"$bin" audit show "$work/audit.jsonl" | grep -E 'decision=' | sed 's/^/  /' | cut -c1-150
