"""DITTO seamless loops: make the generation, a clip of yours, or any section of a song loop without an audible seam.

The same as `ditto loop` (or `python -m ditto loop`); every flag: --help.
"""

from ditto.app.recipes.loop import main

if __name__ == "__main__":
    main()
