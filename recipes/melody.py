"""DITTO melody control: make the top pitch class of the generated music follow a target melody.

The same as `ditto melody` (or `python -m ditto melody`); every flag: --help.
"""

from ditto.app.recipes.melody import main

if __name__ == "__main__":
    main()
