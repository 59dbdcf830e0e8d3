"""Brightness control: make the spectral centroid of the generated music follow a target curve.

The same as `ditto brightness` (or `python -m ditto brightness`); every flag: --help.
"""

from ditto.app.recipes.brightness import main

if __name__ == "__main__":
    main()
