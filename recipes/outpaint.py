"""DITTO continuation (outpainting): extend a clip past its end, or past the model's window.

The same as `ditto outpaint` (or `python -m ditto outpaint`); every flag: --help.
"""

from ditto.app.recipes.outpaint import main

if __name__ == "__main__":
    main()
