"""DITTO structure control: give the generated music a musical form such as ABA, ABAB or AABA.

The same as `ditto structure` (or `python -m ditto structure`); every flag: --help.
"""

from ditto.app.recipes.structure import main

if __name__ == "__main__":
    main()
