#!/usr/bin/env bash
# Installs the pinned tools the gateway and the test suites use, once (cached after):
#   tools.sh js  - tools/package-lock.json into tools/node_modules (Newman, Swagger UI, Playwright)
#   tools.sh py  - tools/requirements.txt into .local/venv (schemathesis, openapi-spec-validator)
source "$(dirname "$0")/lib.sh"

install_py() {
  local venv="$LOCAL/venv"
  if [ ! -f "$venv/.installed" ] || [ "$ROOT/tools/requirements.txt" -nt "$venv/.installed" ]; then
    say "installing Python tools (pip, tools/requirements.txt) into $venv"
    python3 -m venv "$venv" 2>/dev/null || { ensure_packages __none__:python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q -r "$ROOT/tools/requirements.txt"
    touch "$venv/.installed"
  fi
}

for what in "${@:-js}"; do
  case "$what" in
    js) npm_ci "$ROOT/tools" "JavaScript tools" ;;
    py) install_py ;;
    *) echo "usage: tools.sh [js] [py]" >&2; exit 2 ;;
  esac
done
