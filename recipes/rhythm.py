"""Rhythm control: make the onsets of the generated music fall on a target grid or pattern.

The same as `ditto rhythm` (or `python -m ditto rhythm`); every flag: --help.
"""

from ditto.app.recipes.rhythm import main

if __name__ == "__main__":
    main()
