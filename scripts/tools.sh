#!/usr/bin/env bash
# Installs the pinned tools the gateway and the test suites use, once (cached after):
#   tools.sh js  - tools/package-lock.json into tools/node_modules (Newman, Swagger UI, Playwright)
#   tools.sh py  - tools/requirements.txt into .local/venv (schemathesis, openapi-spec-validator)
source "$(dirname "$0")/lib.sh"

install_js() {
  ensure_packages npm:npm
  if [ ! -f "$ROOT/tools/node_modules/.package-lock.json" ] \
     || [ "$ROOT/tools/package-lock.json" -nt "$ROOT/tools/node_modules/.package-lock.json" ]; then
    say "installing JavaScript tools (npm ci, tools/package-lock.json)"
    (cd "$ROOT/tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

install_py() {
  local venv="$LOCAL/venv"
  if [ ! -f "$venv/.installed" ] || [ "$ROOT/tools/requirements.txt" -nt "$venv/.installed" ]; then
    python3 -m venv --help >/dev/null 2>&1 || ensure_packages __none__:python3-venv
    say "installing Python tools (pip, tools/requirements.txt) into $venv"
    python3 -m venv "$venv" 2>/dev/null || { ensure_packages __none__:python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q -r "$ROOT/tools/requirements.txt"
    touch "$venv/.installed"
  fi
}

for what in "${@:-js}"; do
  case "$what" in
    js) install_js ;;
    py) install_py ;;
    *) echo "usage: tools.sh [js] [py]" >&2; exit 2 ;;
  esac
done
