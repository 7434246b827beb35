#!/usr/bin/env bash
# Installs what the test suite needs into .venv (system libraries too, when run as root) and runs it.
# Usage: bash tests/run.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Qt's offscreen platform needs these shared libraries on a bare Debian/Ubuntu; QtMultimedia (the panel's playback
# with sound) needs PulseAudio's client library.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    libs="libegl1 libgl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3 libpulse0"
    # shellcheck disable=SC2086
    if ! dpkg -s $libs >/dev/null 2>&1; then
        apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $libs >/dev/null
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
py=.venv/bin/python
# The constraints file pins torch to the CPU build: anything looser pulls several GB of CUDA wheels.
export PIP_CONSTRAINT="$PWD/.ci/constraints.txt" PIP_DISABLE_PIP_VERSION_CHECK=1
# The Content Credentials library and what it signs with, at the versions the provenance tests were measured with.
$py -m pip install -q c2pa-python==0.38.1 cryptography==46.0.3
$py -m pip install -q -e ".[dev,dlib,ui,cluster,formats]"
# These declare requirements they do not need here (opencv-python, torchvision), which would clobber
# opencv-python-headless or pull a CUDA torch: install them without their metadata's dependencies.
$py -m pip install -q scikit-image numba hydra-core iopath
$py -m pip install -q --no-deps face-alignment==1.5.0
# The active speaker's voice-activity detector; its model ships in the wheel. Without its dependencies: its audio
# extras would pull torchaudio (and with it another torch), and Keydub feeds it audio through its own loader.
$py -m pip install -q --no-deps silero-vad==6.2.3
SAM2_BUILD_CUDA=0 $py -m pip install -q --no-deps --no-build-isolation sam2==1.1.0

export HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen
exec $py -m pytest -q "$@"
