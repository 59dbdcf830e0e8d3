"""DITTO intensity control: make the loudness curve of the generated music follow a target.

The same as `ditto intensity` (or `python -m ditto intensity`); every flag: --help.
"""

from ditto.app.recipes.intensity import main

if __name__ == "__main__":
    main()
