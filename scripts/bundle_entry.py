"""Entry point of the frozen bundle (``dist/kiosk/kiosk``): the same ``main()`` as ``.venv/bin/kiosk``.

PyInstaller needs a script, not a console-script entry point; this is that script and nothing else.
"""

from kiosk.cli import main

if __name__ == "__main__":
    main()
