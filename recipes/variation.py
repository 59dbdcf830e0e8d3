"""Variations of a clip (audio-to-audio), optionally steered by DITTO control objectives.

The same as `ditto variation` (or `python -m ditto variation`); every flag: --help.
"""

from ditto.app.recipes.variation import main

if __name__ == "__main__":
    main()
