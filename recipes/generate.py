"""Plain text-to-audio generation with ditto's differentiable sampler (identical to stable-audio-tools).

The same as `ditto generate` (or `python -m ditto generate`); every flag: --help.
"""

from ditto.app.recipes.generate import main

if __name__ == "__main__":
    main()
