"""DITTO inpainting: regenerate a gap [--start, --end) of a clip or a whole song so that it fits what surrounds it.

The same as `ditto inpaint` (or `python -m ditto inpaint`); every flag: --help.
"""

from ditto.app.recipes.inpaint import main

if __name__ == "__main__":
    main()
