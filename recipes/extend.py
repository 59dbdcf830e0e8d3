"""DITTO extension: continue a clip (or a generated opening) to --seconds of any length, window by window.

The same as `ditto extend` (or `python -m ditto extend`); every flag: --help.
"""

from ditto.app.recipes.extend import main

if __name__ == "__main__":
    main()
