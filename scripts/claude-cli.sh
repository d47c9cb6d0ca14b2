#!/usr/bin/env bash
# Installs the real Claude Code CLI for the guardrail tests, idempotently: it ships inside the
# `claude-agent-sdk` wheel on PyPI (claude_agent_sdk/_bundled/claude). Prints the binary's path.
#
# Usage: scripts/claude-cli.sh   (venv: $SICKBAY_CLAUDE_VENV, default ~/.cache/sickbay-claude)
set -euo pipefail

venv="${SICKBAY_CLAUDE_VENV:-$HOME/.cache/sickbay-claude}"
find_cli() { ls "$venv"/lib/python3*/site-packages/claude_agent_sdk/_bundled/claude 2>/dev/null | head -n 1; }

cli="$(find_cli || true)"
if [ -z "$cli" ] || [ ! -x "$cli" ]; then
    echo "claude-cli: installing claude-agent-sdk into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check claude-agent-sdk >&2
    cli="$(find_cli)"
fi
[ -x "$cli" ] || { echo "claude-cli: no claude binary in the claude-agent-sdk wheel" >&2; exit 1; }
printf '%s\n' "$cli"
