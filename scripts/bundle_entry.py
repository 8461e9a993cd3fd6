"""Entry point of the frozen bundle (``dist/kiosk/kiosk``): the same ``main()`` as ``.venv/bin/kiosk``.

PyInstaller needs a script, not a console-script entry point; this is that script. The matcher
runs in a worker process started with multiprocessing's "spawn": in a frozen program the child is
this same executable, and ``freeze_support()`` is what makes it run the worker instead of the CLI.
"""

import multiprocessing

from kiosk.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()
