#!/usr/bin/env bash
# Set-up in one command on a fresh Debian 12 machine:
#   cmake/bootstrap.sh studio   install what is missing, build, launch the GUI
#   cmake/bootstrap.sh test     install what is missing, build, run the whole test suite
#   cmake/bootstrap.sh sanitize build with ASan + UBSan in build-sanitize/ and run the whole suite
#   cmake/bootstrap.sh deps     only install what is missing
# Idempotent and non-interactive. BUILD_DIR (default: build) and JOBS (default: all cores) can be set.
set -euo pipefail

mode=${1:-}
case "$mode" in studio|test|sanitize|deps) ;; *)
  echo "usage: $0 studio|test|sanitize|deps" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}

packages=(
  build-essential cmake pkg-config ccache
  qt6-base-dev qt6-svg-dev libqcustomplot-dev fonts-dejavu-core
  libtorch-dev libopenblas0-pthread
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libspdlog-dev nlohmann-json3-dev libcli11-dev libonig-dev libutf8proc-dev
  libgtest-dev libssl-dev zlib1g-dev xvfb xauth
)

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! grep -qs 'bookworm' /etc/os-release; then
    echo "warning: this script is tested on Debian 12 (bookworm) only" >&2
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "Installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq || { echo "error: apt-get update failed (network or sources?)" >&2; exit 1; }
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || { echo "error: apt-get install failed for: ${missing[*]}" >&2; exit 1; }
}

build_project() {
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
  cmake --build "$build" -j "$jobs"
}

install_missing
case "$mode" in
  deps) ;;
  test)
    build_project
    cd "$build" && ctest --output-on-failure -j "$jobs"
    ;;
  sanitize)
    # Its own folder: the instrumented objects never mix with the release build's.
    build=${BUILD_DIR:-$root/build-sanitize}
    build_project -DHAE_SANITIZE=ON
    supp="$root/tests/sanitizer"
    # Stop at the first report; reports from LibTorch's and Qt's own code that are not ours are
    # suppressed by name in tests/sanitizer/*.supp, each with its reason.
    export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
    export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
    export QT_QPA_PLATFORM=offscreen
    cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 1800
    ;;
  studio)
    build_project
    if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      shot="$build/studio.png"
      echo "No display found: running HAE Studio under Xvfb on a sample scene with HAE and saving a screenshot to $shot"
      exec xvfb-run -a "$build/app/hae-studio" --screenshot "$shot" --policy hae --steps 16
    fi
    exec "$build/app/hae-studio"
    ;;
esac
