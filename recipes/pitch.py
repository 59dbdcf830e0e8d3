"""Pitch control: make the generated music sing a target melody in the right octave.

The same as `ditto pitch` (or `python -m ditto pitch`); every flag: --help.
"""

from ditto.app.recipes.pitch import main

if __name__ == "__main__":
    main()
