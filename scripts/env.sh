# Shared setup for the project's scripts: a cargo target dir that persists
# across runs on one machine (fast rebuilds in CI), and the tools the
# project needs, installed when missing.
set -euo pipefail
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ownstak/target}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

apt_install() { # apt_install PACKAGE...
  echo "installing $* with apt" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "$@" >/dev/null
}

need_apt() { # need_apt COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
}

need_apt cargo cargo
need_apt node nodejs
need_apt npm npm
need_apt cc gcc
need_apt curl curl

# The lint gate needs rustfmt and clippy next to cargo.
need_cargo_tool() { # need_cargo_tool SUBCOMMAND COMPONENT
  cargo "$1" --version >/dev/null 2>&1 && return 0
  if command -v rustup >/dev/null 2>&1; then
    rustup component add "$2" >&2
  else
    echo "cargo $1 is missing: install the Rust component $2 (rustup component add $2)" >&2
    exit 1
  fi
}
need_cargo_tool fmt rustfmt
need_cargo_tool clippy clippy

# A virtualenv with the Python clients used by the conformance tests.
python_env() {
  local venv="$HOME/.cache/ownstak/venv"
  local req="$ROOT/tests/python-requirements.txt"
  if [ ! -x "$venv/bin/python" ]; then
    need_apt python3 python3
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
  fi
  if ! cmp -s "$req" "$venv/.installed" 2>/dev/null; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    cp "$req" "$venv/.installed"
  fi
  export OWNSTAK_PYTHON="$venv/bin/python"
}
