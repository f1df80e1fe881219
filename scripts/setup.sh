#!/usr/bin/env bash
# Sets up everything the bot and its tests need, idempotently: system packages, .venv, the
# llama.cpp build and the Python packages. Re-running is cheap when nothing changed.
#
# Environment knobs (all optional):
#   CMAKE_ARGS   llama.cpp build flags. Default "-DGGML_NATIVE=OFF" (a native build segfaults on
#                some Xeons). GPU users: CMAKE_ARGS="-DGGML_CUDA=on".
#   TORCH_SPEC   the torch requirement. Default "torch==2.13.0" (CPU wheel where one is on disk,
#                else PyPI's default build). CUDA users may keep it; CPU-only users elsewhere can
#                add PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu.
#   PYTHON       the interpreter used to create .venv (default: python3.11, else python3).
#   EXTRAS       pyproject extras to install, e.g. "test" (default: none).
#   LLAMA_SERVER set to 1 to build llama-server (README, "Serving many voices"); EXTRAS with
#                "test" builds it too (the backend tests start it). It uses CMAKE_ARGS as well.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CMAKE_ARGS:=-DGGML_NATIVE=OFF}"
: "${TORCH_SPEC:=torch==2.13.0}"
: "${EXTRAS:=}"
: "${LLAMA_SERVER:=0}"
LLAMA_CPP_VERSION=0.3.36
XCODEC2_VERSION=0.1.5

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

install_system_packages() {
    local missing=()
    dpkg -s libopus0 >/dev/null 2>&1 || missing+=(libopus0)
    dpkg -s libsndfile1 >/dev/null 2>&1 || missing+=(libsndfile1)
    command -v g++ >/dev/null 2>&1 || missing+=(build-essential)
    command -v cmake >/dev/null 2>&1 || missing+=(cmake)
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    [ ${#missing[@]} -eq 0 ] && return
    say "installing system packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then echo "$candidate"; return; fi
    done
    echo "no python3 found" >&2; exit 1
}

# llama-cpp-python is compiled from source (minutes). pip's wheel cache ignores CMAKE_ARGS, so we
# keep our own wheel folder per flag set: a changed flag set builds anew, an unchanged one is reused.
install_llama_cpp() {
    local key wheel_dir
    key=$(printf '%s|%s' "$LLAMA_CPP_VERSION" "$CMAKE_ARGS" | sha256sum | cut -c1-16)
    wheel_dir="${XDG_CACHE_HOME:-$HOME/.cache}/anime-llasa-bot/llama-cpp-wheels/$key"
    if ! ls "$wheel_dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        say "building llama-cpp-python $LLAMA_CPP_VERSION with CMAKE_ARGS='$CMAKE_ARGS' (several minutes)"
        mkdir -p "$wheel_dir"
        CMAKE_ARGS="$CMAKE_ARGS" .venv/bin/pip wheel -q --no-cache-dir --no-deps \
            -w "$wheel_dir" "llama-cpp-python==$LLAMA_CPP_VERSION"
    fi
    .venv/bin/pip install -q --no-deps --force-reinstall "$wheel_dir"/llama_cpp_python-*.whl
}

# llama-server from the llama.cpp that llama-cpp-python vendors (the same commit, so the same GGUF
# works), cached per version and flag set. $ORIGIN run paths let the folder (binary + its shared
# libraries) live anywhere: llama_server_binary() in bot/speech/backends/llama_server.py finds it.
build_llama_server() {
    local flags key dir work src
    flags="$CMAKE_ARGS -DLLAMA_BUILD_SERVER=ON -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
    key=$(printf '%s|%s' "$LLAMA_CPP_VERSION" "$flags" | sha256sum | cut -c1-16)
    dir="${XDG_CACHE_HOME:-$HOME/.cache}/anime-llasa-bot/llama-server/$key"
    [ -x "$dir/llama-server" ] && return
    say "building llama-server from llama-cpp-python $LLAMA_CPP_VERSION's llama.cpp with CMAKE_ARGS='$CMAKE_ARGS' (several minutes)"
    work=$(mktemp -d)
    .venv/bin/pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$LLAMA_CPP_VERSION"
    tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
    src=$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)
    # shellcheck disable=SC2086  # flags are words
    cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON $flags >/dev/null
    cmake --build "$work/build" --target llama-server -j "$(nproc)" >/dev/null
    mkdir -p "$(dirname "$dir")"
    rm -rf "$dir.partial" && cp -a "$work/build/bin" "$dir.partial" && mv "$dir.partial" "$dir"
    rm -rf "$work"
    say "llama-server is $dir/llama-server"
}

main() {
    install_system_packages
    local py stamp want
    py=$(pick_python)
    [ -x .venv/bin/python ] || { say "creating .venv with $py"; "$py" -m venv .venv; }
    stamp=.venv/.setup-stamp
    want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"|$CMAKE_ARGS|$TORCH_SPEC|$EXTRAS"
    if [ "$LLAMA_SERVER" = 1 ] || [[ ",$EXTRAS," == *,test,* ]]; then
        build_llama_server
    fi
    if [ "${VLLM:-0}" = 1 ] || [[ ",$EXTRAS," == *,test,* ]]; then bash scripts/setup-vllm.sh; fi  # vLLM in its own venv
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    .venv/bin/pip install -q --upgrade pip wheel
    say "installing $TORCH_SPEC"
    .venv/bin/pip install -q "$TORCH_SPEC"
    install_llama_cpp
    # xcodec2 pins torch 2.5 and friends; its code runs fine on ours. Install it without its
    # dependencies; the ones it really imports are listed in pyproject.toml.
    .venv/bin/pip install -q --no-deps "xcodec2==$XCODEC2_VERSION"
    say "installing the bot${EXTRAS:+ with [$EXTRAS]}"
    .venv/bin/pip install -q -e ".${EXTRAS:+[$EXTRAS]}" "$TORCH_SPEC" "llama-cpp-python==$LLAMA_CPP_VERSION"
    echo "$want" > "$stamp"
    say "done"
}

main "$@"
