"""The recipes: one module per `ditto` subcommand, each with `main(argv=None)`.

`recipes/NAME.py` and `ditto NAME` both call `ditto.app.recipes.NAME.main`; an experiment file's `"recipe"` key
names one of `RECIPES`.
"""

RECIPES = ("intensity", "melody", "structure", "rhythm", "brightness", "pitch",  # controls
           "outpaint", "inpaint", "loop", "extend", "variation",  # edits
           "generate")  # plain generation, no optimization
